"""``check URL``: can this sink deliver, with the configuration it would run with?"""

from __future__ import annotations

from typing import Any

import click

from .. import SinkConfigurationError, sink_from_url
from ._common import FORMAT_OPTION, CliError, CliUsageError, echo_table, emit_json, status


def open_sink(url: str) -> Any:
    """Build the sink of *url*, turning a bad URL or a missing extra into a one-line error."""
    try:
        return sink_from_url(url)
    except ValueError as exc:
        raise CliUsageError(str(exc), "see docs/aws.md for the URL forms") from exc
    except ImportError as exc:
        raise CliError(str(exc)) from exc
    except (SinkConfigurationError, OSError) as exc:  # FileSink creates its directory
        raise CliError(f"cannot use {url}: {exc}", "pick a directory you can write to") from exc


@click.command(short_help="Check that a sink URL can deliver (exit 1 and the fix if not).")
@click.argument("url")
@FORMAT_OPTION
def check(url: str, output_format: str) -> None:
    """Check that the sink at URL can deliver: file:./dir, s3://BUCKET/PREFIX, firehose://STREAM,
    kinesis://STREAM (the same URLs as sink_from_url; AWS ones use the standard AWS
    configuration, including AWS_ENDPOINT_URL).

    Exit code 0 when it can, 1 with the reason and the fix when it cannot.
    """
    sink = open_sink(url)
    probe = getattr(sink, "check", None)
    result: dict[str, Any] = {"url": url, "sink": repr(sink), "ok": True, "error": None}
    if callable(probe):
        status(f"checking {sink!r} ...")
        try:
            probe()
        except (SinkConfigurationError, OSError) as exc:
            result.update(ok=False, error=str(exc).replace("\n", " "))
    else:
        result.update(ok=True, error="this sink has no check(); nothing to verify")
    if output_format == "json":
        emit_json(result)
    else:
        echo_table(None, [{"sink": result["sink"], "ok": "yes" if result["ok"] else "NO"}])
    if not result["ok"]:
        raise CliError(
            f"{sink!r} cannot deliver: {result['error']}",
            "fix the configuration above (credentials, AWS_REGION, names, permissions: see docs/aws.md)",
        )
