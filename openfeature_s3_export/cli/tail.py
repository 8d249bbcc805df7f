"""``tail PATH_OR_S3_URL``: the newest events, readable, filtered; ``--follow`` on a directory."""

from __future__ import annotations

import gzip
import io
import json
import time
from collections.abc import Iterable
from typing import Any

import click

from ._common import CliError, CliUsageError, format_option, need, render_table
from ._source import ExportFile, is_s3, list_files, local_dir, sniff

SHOWN = ("timestamp", "kind", "flag_key", "variant", "reason", "event_name", "metric_value", "targeting_key")


def read_rows(file: ExportFile) -> list[dict[str, Any]]:
    """The rows of one exported file, in file order (NDJSON, gzip or not, or Parquet)."""
    data = file.read()
    kind = sniff(data)
    if kind == "parquet":
        pq = need("pyarrow.parquet")
        table = pq.read_table(io.BytesIO(data))
        rows: list[dict[str, Any]] = table.to_pylist()
        for row in rows:
            if hasattr(row.get("timestamp"), "isoformat"):
                row["timestamp"] = row["timestamp"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return rows
    text = gzip.decompress(data) if kind == "ndjson.gz" else data
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _matches(row: dict[str, Any], kind: str | None, flag: str | None) -> bool:
    return (kind is None or row.get("kind") == kind) and (flag is None or row.get("flag_key") == flag)


def newest(files: list[ExportFile], count: int, kind: str | None, flag: str | None) -> list[dict[str, Any]]:
    """The *count* newest matching rows, oldest first, reading files from the newest back."""
    found: list[dict[str, Any]] = []
    for file in reversed(files):
        found.extend(r for r in read_rows(file) if _matches(r, kind, flag))
        if len(found) >= count:
            break
    found.sort(key=lambda r: (r.get("timestamp") or "", r.get("event_id") or ""))
    return found[-count:] if count else []


def _show(rows: Iterable[dict[str, Any]], output_format: str, header: bool) -> None:
    rows = list(rows)
    if output_format == "json":
        for row in rows:
            click.echo(json.dumps(row, separators=(",", ":")))
    elif rows:
        table = render_table([{k: row.get(k) for k in SHOWN} for row in rows], SHOWN)
        lines = table.splitlines(keepends=True)
        click.echo("".join(lines if header else lines[2:]), nl=False)


@click.command(short_help="Show the newest events (--follow waits for new files in a directory).")
@click.argument("location", metavar="PATH_OR_S3_URL")
@click.option(
    "-n",
    "--lines",
    "count",
    type=click.IntRange(0),
    default=20,
    show_default=True,
    help="how many events to show",
)
@click.option("--kind", type=click.Choice(["evaluation", "track"]), help="only this kind of event")
@click.option("--flag", help="only evaluations of this flag")
@click.option(
    "-f", "--follow", is_flag=True, help="keep printing new events (local directory only; Ctrl-C stops)"
)
@click.option(
    "--interval",
    type=click.FloatRange(0.05),
    default=1.0,
    show_default=True,
    help="seconds between looks for new files with --follow",
)
@format_option("one JSON row per line")
def tail(
    location: str,
    count: int,
    kind: str | None,
    flag: str | None,
    follow: bool,
    interval: float,
    output_format: str,
) -> None:
    """Show the newest exported events of a local directory or an s3://BUCKET/PREFIX,
    oldest first, optionally only one kind or one flag.

    \b
    Examples:
      openfeature-s3-export tail ./exports --flag new-checkout
      openfeature-s3-export tail ./exports --kind track --follow
    """
    if follow and is_s3(location):
        raise CliUsageError(
            "--follow works on a local directory", "sync the S3 prefix locally, or drop --follow"
        )
    files = list_files(location)
    if not files and not follow:
        raise CliError(
            f"no exported files (*.json.gz, *.parquet) under {location}",
            "check the path, or run `openfeature-s3-export demo`",
        )
    rows = newest(files, count, kind, flag)
    if not rows and not follow:
        raise CliUsageError("no events match", "check --kind and --flag")
    _show(rows, output_format, header=True)
    if follow:
        _follow(location, {f.name for f in files}, kind, flag, interval, output_format, header=not rows)


def _follow(
    location: str,
    seen: set[str],
    kind: str | None,
    flag: str | None,
    interval: float,
    output_format: str,
    header: bool,
) -> None:
    local_dir(location)
    while True:
        time.sleep(interval)
        fresh = [f for f in list_files(location) if f.name not in seen]
        for file in fresh:
            seen.add(file.name)
            rows = [r for r in read_rows(file) if _matches(r, kind, flag)]
            if rows:
                _show(rows, output_format, header)
                header = False
