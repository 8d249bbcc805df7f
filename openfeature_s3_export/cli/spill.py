"""``spill status DIR`` and ``spill replay DIR --sink URL``: what waits on disk, and sending it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs
import click

from .. import replay_spill, spill_status
from ._common import FORMAT_OPTION, CliError, echo_table, emit_json
from ._common import status as say
from .check import open_sink


@click.group(short_help="Look into a spill directory, or replay what a dead process left there.")
def spill() -> None:
    """The spill directory (EventExporter(spill_dir=...), $OPENFEATURE_S3_EXPORT_SPILL_DIR):
    batches that could not be delivered wait there until they are replayed."""


def _when(timestamp_us: int | None) -> str | None:
    if timestamp_us is None:
        return None
    moment = dt.datetime.fromtimestamp(timestamp_us / 1e6, dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@spill.command(short_help="Segments, events, bytes, oldest event, owner alive or orphaned.")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@FORMAT_OPTION
def status(directory: str, output_format: str) -> None:
    """List the segments of the spill DIRECTORY: events, bytes, oldest event, and whether a live
    process owns each one (``alive``) or the next exporter started on it adopts it (``orphaned``)."""
    segments = spill_status(directory)
    rows: list[dict[str, Any]] = [
        attrs.asdict(s) | {"oldest": _when(s.oldest_us)}
        for s in segments  # not a hot path
    ]
    shown = [r | {"pid": str(r["pid"])} for r in rows]
    total = {
        "segments": len(segments),
        "events": sum(s.events for s in segments),
        "bytes": sum(s.bytes for s in segments),
        "orphaned_events": sum(s.events for s in segments if s.owner == "orphaned"),
        "damaged": sum(s.damaged for s in segments),
        "oldest": _when(min((s.oldest_us for s in segments if s.oldest_us), default=None)),
    }
    if output_format == "json":
        emit_json({"directory": directory, "total": total, "segments": rows})
        return
    columns = ("name", "pid", "owner", "events", "bytes", "oldest", "damaged")
    echo_table(None, shown, columns) if rows else click.echo("no segments: nothing waits on disk")
    click.echo(
        f"{total['segments']} segments, {total['events']} events, {total['bytes']} bytes "
        f"({total['orphaned_events']} events orphaned); oldest event {total['oldest'] or '-'}"
    )


@spill.command(short_help="Replay the orphaned segments of a spill directory to a sink URL.")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--sink", "url", required=True, help="where to deliver: file:./dir, s3://BUCKET/PREFIX, ...")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="seconds one batch may take, retries included")  # fmt: skip
@FORMAT_OPTION
def replay(directory: str, url: str, timeout: float, output_format: str) -> None:
    """Deliver the orphaned segments of the spill DIRECTORY to the sink at URL, oldest first,
    deleting each once delivered.  Segments of live processes are left alone.  Exit code 1 when
    the sink failed (what was not delivered stays on disk; run it again)."""
    sink = open_sink(url)
    say(f"replaying {directory} to {sink!r} ...")
    try:
        report = replay_spill(directory, sink, timeout=timeout)
    finally:
        sink.shutdown()
    document = attrs.asdict(report)
    if output_format == "json":
        emit_json(document)
    else:
        echo_table(None, [document], ("replayed", "adopted", "damaged", "left", "error"))
    if report.error:
        raise CliError(f"the sink failed: {report.error}", "check the sink (openfeature-s3-export check URL)")
