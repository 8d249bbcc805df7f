"""``spill status`` and ``spill replay``: what waits on disk, and delivering what the dead left."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from spill_procs import lines, spill

from openfeature_s3_export.cli import main

PROCS = str(Path(__file__).with_name("spill_procs.py"))


def _orphan(directory: Path, tag: str, count: int) -> None:
    """Segments whose writer is gone (its descriptors closed, as at a process's death)."""
    s = spill(str(directory))
    s.write(lines(tag, count))
    s.after_fork_in_child()


@pytest.fixture
def live_owner(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A live process holding 40 spilled events in *tmp_path*."""
    holder = subprocess.Popen(
        [sys.executable, PROCS, "hold", str(tmp_path), "live", "40"], stdout=subprocess.PIPE
    )
    assert holder.stdout is not None and json.loads(holder.stdout.readline()) == {"written": 40}
    yield holder
    holder.kill()
    holder.wait()


def test_status_tells_orphaned_from_alive(
    tmp_path: Path, live_owner, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    _orphan(tmp_path, "dead", 30)
    assert main(["spill", "status", str(tmp_path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    owners = {s["pid"]: s["owner"] for s in document["segments"]}
    assert owners[live_owner.pid] == "alive"
    assert set(owners.values()) == {"alive", "orphaned"}
    assert document["total"]["events"] == 70 and document["total"]["orphaned_events"] == 30
    assert document["total"]["oldest"].startswith("2023-11-14T")  # the lines' own event time

    assert main(["spill", "status", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert "orphaned" in table and "alive" in table and "70 events" in table


def test_replay_delivers_the_orphans_and_leaves_a_live_process_alone(
    tmp_path: Path,
    live_owner,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    _orphan(tmp_path, "dead", 30)
    out = tmp_path.parent / (tmp_path.name + "-out")
    assert main(["spill", "replay", str(tmp_path), "--sink", f"file:{out}", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"replayed": 30, "adopted": 30, "damaged": 0, "left": 0, "error": None}
    delivered = [
        json.loads(line)["id"]
        for f in out.rglob("*.gz")
        for line in gzip.decompress(f.read_bytes()).splitlines()
    ]
    assert sorted(delivered) == sorted(f"dead-{i}" for i in range(30))
    assert main(["spill", "status", str(tmp_path), "--format", "json"]) == 0
    left = json.loads(capsys.readouterr().out)
    assert left["total"]["events"] == 40 and {s["owner"] for s in left["segments"]} == {"alive"}


def test_status_of_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["spill", "status", str(tmp_path / "nope")]) == 2
