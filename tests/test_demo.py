"""The README's demo command works and reports what really landed."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
@pytest.mark.vendor
@pytest.mark.parametrize("vendor", ["flagd", "in-memory"])
def test_demo_writes_and_summarises(vendor: str, tmp_path: Path) -> None:
    out = tmp_path / "exports"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "openfeature_s3_export",
            "demo",
            "--vendor",
            vendor,
            "--users",
            "120",
            "--sink",
            f"file://{out}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    rows = []
    for path in out.rglob("*.json.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh)
    evaluations = [r for r in rows if r["kind"] == "evaluation"]
    tracks = [r for r in rows if r["kind"] == "track"]
    assert len({r["targeting_key"] for r in evaluations}) == 120
    assert tracks and all(r["event_name"] == "purchase" and r["metric_value"] > 0 for r in tracks)
    assert f"rows per kind: {{'evaluation': {len(evaluations)}, 'track': {len(tracks)}}}" in proc.stdout
    assert "dropped 0" in proc.stdout
    expected_vendor = "flagd" if vendor == "flagd" else "in-memory"
    assert {r["vendor"] for r in rows} == {expected_vendor}


def test_cli_usage() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "openfeature_s3_export", "nope"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert "demo" in proc.stderr
