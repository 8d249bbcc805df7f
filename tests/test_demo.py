"""The README's demo command works, reports what really landed, and its data passes its checks."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from openfeature_s3_export.cli.report import build_report


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openfeature_s3_export", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
@pytest.mark.vendor
@pytest.mark.parametrize("vendor", ["flagd", "in-memory"])
def test_demo_writes_summarises_and_passes_its_own_srm_check(vendor: str, tmp_path: Path) -> None:
    proc = run("demo", "--vendor", vendor, cwd=tmp_path)  # the defaults, as in the README
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "exports"
    rows = []
    for path in out.rglob("*.json.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh)
    evaluations = [r for r in rows if r["kind"] == "evaluation"]
    tracks = [r for r in rows if r["kind"] == "track"]
    assert len({r["targeting_key"] for r in evaluations}) == 2000
    assert tracks and all(r["event_name"] == "purchase" and r["metric_value"] > 0 for r in tracks)
    assert f"rows per kind: {{'evaluation': {len(evaluations)}, 'track': {len(tracks)}}}" in proc.stdout
    assert "dropped 0" in proc.stdout
    assert {r["vendor"] for r in rows} == {vendor}
    last = proc.stdout.strip().splitlines()[-1]
    assert last == "Next: openfeature-s3-export report ./exports --flag new-checkout --metric purchase"
    report = build_report(str(out), "new-checkout", "purchase")
    assert not report["srm"]["mismatch"], report["srm"]
    assert {v["variant"] for v in report["variants"]} == {"control", "treatment"}


@pytest.mark.slow
def test_demo_refuses_to_mix_runs_and_replaces_on_request(tmp_path: Path) -> None:
    assert run("demo", "--vendor", "in-memory", "--users", "50", cwd=tmp_path).returncode == 0
    proc = run("demo", "--vendor", "in-memory", "--users", "50", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "already holds an earlier export" in proc.stderr
    assert "--replace" in proc.stderr
    proc = run("demo", "--vendor", "in-memory", "--users", "50", "--replace", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = build_report(str(tmp_path / "exports"), "new-checkout", "purchase")
    assert sum(v["units"] for v in report["variants"]) == 50  # one run's units, not two


@pytest.mark.slow
def test_in_memory_assignment_is_the_same_in_every_process(tmp_path: Path) -> None:
    splits = []
    for seed in ("1", "2"):
        work = tmp_path / seed
        work.mkdir()
        proc = run("demo", "--vendor", "in-memory", "--users", "300", cwd=work, env={"PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr
        report = build_report(str(work / "exports"), "new-checkout", "purchase")
        splits.append({v["variant"]: v["units"] for v in report["variants"]})
    assert splits[0] == splits[1]


@pytest.mark.slow
def test_demo_piped_into_head_ends_quietly(tmp_path: Path) -> None:
    proc = subprocess.run(
        f"{sys.executable} -m openfeature_s3_export demo --vendor in-memory --users 50 | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert proc.stdout.startswith("vendor:")
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
