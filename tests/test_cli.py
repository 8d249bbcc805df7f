"""The command itself: entry points, version, help, one-line errors, check, missing extras."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from openfeature_s3_export import __version__, sink_from_url
from openfeature_s3_export.cli import app, main

COMMANDS = ("demo", "report", "tail", "ddl", "check", "provision", "spill")


def test_console_script_and_module_agree() -> None:
    script = Path(sys.executable).with_name("openfeature-s3-export")
    for argv in ([str(script), "--version"], [sys.executable, "-m", "openfeature_s3_export", "--version"]):
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
        assert proc.returncode == 0 and proc.stdout.strip() == f"openfeature-s3-export, version {__version__}"


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    lines = {
        line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  ") and line.strip()
    }
    for command in COMMANDS:
        assert not lines[command].endswith("..."), lines[command]  # one-line summaries are not cut


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_readable_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage: " in result.stdout and len(result.stdout) > 200


def test_unknown_command_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "No such command 'nope'" in err and "--help" in err


def test_check_file_sink(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", f"file:{tmp_path}/out", "--format", "json"]) == 0
    assert '"ok": true' in capsys.readouterr().out
    assert (tmp_path / "out").is_dir() and not list((tmp_path / "out").iterdir())  # probe removed
    (tmp_path / "a-file").write_text("x")
    assert main(["check", f"file:{tmp_path}/a-file/out"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a-file" in err and "pick a directory" in err


@pytest.mark.parametrize("url", ["http://x", "s3://", "file://host/dir", "firehose://s?nope=1"])
def test_check_bad_url(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("openfeature-s3-export: error: ")


def test_missing_extras_name_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if pyarrow were not installed
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'openfeature-s3-export\[parquet\]'"):
        sink_from_url("s3://bucket/prefix?format=parquet")
    monkeypatch.setitem(sys.modules, "duckdb", None)
    (tmp_path / "dt=2026-01-01").mkdir()
    (tmp_path / "dt=2026-01-01" / "x.json.gz").write_bytes(b"")
    result = CliRunner().invoke(app, ["report", str(tmp_path), "--flag", "x"], standalone_mode=True)
    assert result.exit_code == 1
    assert "pip install 'openfeature-s3-export[analysis]'" in result.output
