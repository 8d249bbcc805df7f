"""``spill replay DIR --sink s3://...`` against moto: delivered and deleted, or left on disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_helpers import s3_objects, unique
from spill_procs import lines, spill

from openfeature_s3_export.cli import main


def _orphan(directory: Path, count: int) -> None:
    s = spill(str(directory))
    s.write(lines("dead", count))
    s.after_fork_in_child()  # as at the writer's death: the lock is gone


def test_replay_to_s3_delivers_and_deletes(
    bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _orphan(tmp_path, 25)
    assert main(["spill", "replay", str(tmp_path), "--sink", f"s3://{bucket}/p", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["replayed"] == 25
    assert not list(tmp_path.glob("*.seg"))
    assert len(s3_objects(bucket)) == 1


def test_a_failing_sink_leaves_the_segments_and_exits_1(
    aws: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _orphan(tmp_path, 25)
    missing = unique("no-such-bucket")
    assert main(["spill", "replay", str(tmp_path), "--sink", f"s3://{missing}", "--timeout", "5"]) == 1
    assert "the sink failed" in capsys.readouterr().err
    assert len(list(tmp_path.glob("*.seg"))) == 1
