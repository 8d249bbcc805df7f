"""The ``openfeature-s3-export`` command (also ``python -m openfeature_s3_export``).

Nothing in the library imports this package: it uses the public API like any application.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import click

from .. import __version__
from .check import check
from .ddl import ddl
from .demo import demo
from .provision import provision
from .report import report
from .spill import spill
from .tail import tail

__all__ = ["app", "main"]

DOCS = "https://github.com/openfeature-s3-export/openfeature-s3-export/tree/main/docs"


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=f"\b\nStart with: openfeature-s3-export demo (then the report it suggests).\nDocs: {DOCS}",
)
@click.version_option(__version__, "-V", "--version", prog_name="openfeature-s3-export")
def app() -> None:
    """Export every OpenFeature evaluation and track event, then check, query and report on it."""


for command in (demo, report, tail, ddl, check, provision, spill):
    app.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit code (errors are one line on stderr, never a traceback)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = app.main(args, prog_name="openfeature-s3-export", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
        return 2
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "openfeature-s3-export"
        click.echo(f"{command}: error: {exc.format_message()} (see {command} --help)", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"openfeature-s3-export: error: {exc.format_message()}", err=True)
        return exc.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`... | head`): stop quietly, and keep Python from printing a
        # second error while flushing stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    return result if isinstance(result, int) else 0
