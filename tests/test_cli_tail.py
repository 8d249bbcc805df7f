"""`tail`: the newest events, filters, --follow on a directory, and its errors."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from export_fixture import fixture_rows, make_row, ndjson_files, parquet_files, write_files

from openfeature_s3_export.cli import app


@pytest.fixture(params=["ndjson", "parquet"])
def export_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    writer = ndjson_files if request.param == "ndjson" else parquet_files
    return write_files(tmp_path / "exports", writer(*fixture_rows()))


def tail_json(*args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(app, ["tail", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_newest_events_oldest_first(export_dir: Path) -> None:
    rows = tail_json(str(export_dir), "-n", "3")
    assert [r["targeting_key"] for r in rows] == ["s47", "s48", "s49"]  # the last three, in order


def test_filters(export_dir: Path) -> None:
    tracks = tail_json(str(export_dir), "-n", "100", "--kind", "track")
    assert {r["kind"] for r in tracks} == {"track"} and len({r["event_id"] for r in tracks}) == 8
    exp = tail_json(str(export_dir), "-n", "2", "--flag", "exp")
    assert [(r["targeting_key"], r["variant"]) for r in exp] == [("e1", None), ("t3", "control")]


def test_table_for_people(export_dir: Path) -> None:
    result = CliRunner().invoke(app, ["tail", str(export_dir), "-n", "2", "--kind", "track"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["timestamp", "kind", "flag_key"]
    assert "2026-03-01T10:11:00.000000Z" in lines[-1] and "view" in lines[-1]


def test_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["tail", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "no such directory" in result.output
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["tail", str(tmp_path / "empty")])
    assert result.exit_code == 1 and "no exported files" in result.output
    result = runner.invoke(app, ["tail", "s3://bucket/prefix", "--follow"])
    assert result.exit_code == 2 and "--follow works on a local directory" in result.output
    write_files(tmp_path / "one", ndjson_files(*fixture_rows()))
    result = runner.invoke(app, ["tail", str(tmp_path / "one"), "--flag", "nope"])
    assert result.exit_code == 2 and "no events match" in result.output


@pytest.mark.slow
def test_follow_prints_new_files(tmp_path: Path) -> None:
    root = write_files(tmp_path / "exports", ndjson_files(*fixture_rows()))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openfeature_s3_export",
            "tail",
            str(root),
            "-n",
            "1",
            "-f",
            "--interval",
            "0.1",
            "--format",
            "json",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert json.loads(read_line(proc))["targeting_key"] == "s49"
        late = make_row(9999, "track", 500, "late-user", event_name="buy", metric_value=1.0)
        write_files(root, ndjson_files([late], []))
        assert json.loads(read_line(proc))["targeting_key"] == "late-user"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def read_line(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    """The next stdout line, waiting at most *timeout* seconds for it."""
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(timeout=deadline - time.monotonic()):
            return proc.stdout.readline()
    raise AssertionError(f"no output within {timeout}s (pid {proc.pid}, {os.getpid()})")
