"""What every subcommand shares: one-line errors, optional extras, tables or JSON, progress."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EXTRA_HINTS = {
    "duckdb": "analysis",
    "pyarrow": "parquet",
    "openfeature.contrib.provider.flagd": "flagd",
}
"""Module -> the extra of ``openfeature-s3-export`` that installs it."""


def format_option(json_means: str = "one JSON document on stdout") -> Callable[[F], F]:
    """The ``--format table|json`` option every command that prints results takes."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help=f"table for people, json for scripts ({json_means})",
    )


FORMAT_OPTION = format_option()


class CliError(click.ClickException):
    """A failure the user can fix: printed as one line (what went wrong; how to fix it), exit 1."""

    exit_code = 1

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(f"{message}; {fix}" if fix else message)


class CliUsageError(CliError):
    """A bad argument (path, URL, flag name): one line, exit 2 as for any usage error."""

    exit_code = 2


def need(module: str) -> Any:
    """Import *module*, or fail with one line naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = EXTRA_HINTS.get(module, "analysis")
        raise CliError(f"{module} is not installed", f"pip install 'openfeature-s3-export[{extra}]'") from exc


def to_jsonable(value: Any) -> Any:
    """Dates as ISO 8601 text, everything else as JSON has it."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def emit_json(document: Any) -> None:
    """One JSON document on stdout."""
    click.echo(json.dumps(to_jsonable(document), indent=2, sort_keys=False))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A plain aligned text table (numbers right-aligned), as a string ending in a newline."""
    if not rows:
        return "(no rows)\n"
    names = list(columns or rows[0].keys())
    cells = [[_cell(row.get(name)) for name in names] for row in rows]
    widths = [max(len(name), *(len(r[i]) for r in cells)) for i, name in enumerate(names)]
    numeric = [all(isinstance(row.get(n), (int, float)) or row.get(n) is None for row in rows) for n in names]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
        return "  ".join(parts).rstrip()

    out = [line(names), line(["-" * w for w in widths])]
    out.extend(line(r) for r in cells)
    return "\n".join(out) + "\n"


def echo_table(
    title: str | None, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None
) -> None:
    """Print a titled table on stdout."""
    if title:
        click.echo(title)
    click.echo(render_table(rows, columns))


@contextmanager
def progress(items: Sequence[T], label: str) -> Iterator[Iterable[T]]:
    """Iterate *items* with a progress bar on stderr (shown only on a terminal, where it helps)."""
    if len(items) < 2 or not sys.stderr.isatty():
        yield items
        return
    with click.progressbar(items, label=label, file=sys.stderr, show_pos=True) as bar:
        yield bar


def status(message: str) -> None:
    """A progress line on stderr, so that stdout stays clean for ``--format json`` and pipes."""
    click.echo(message, err=True)
