"""bench/fastapi_loop_lag.py runs end to end (quick mode) and accounts for every event.

No threshold on the lag: the numbers belong in docs/performance.md, not in a pass/fail test.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_fastapi_loop_lag_quick(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "fastapi_loop_lag.py"), "--quick"],
        env={**os.environ, "BENCH_RESULTS_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((tmp_path / "fastapi_loop_lag.json").read_text())
    assert set(results["variants"]) == {"hook off", "hook on"}
    for variant in results["variants"].values():
        assert variant["probes"] > 0 and variant["requests"] == 600
        assert all(math.isfinite(variant[k]) for k in ("lag_p50_ms", "lag_p99_ms", "request_p99_ms"))
    # 600 "hook on" requests, each one evaluation and one track, all through the 1 s sink.
    assert results["stats"]["exported"] == 1200 and results["stats"]["dropped"] == 0
    assert results["sink_calls"] > 0
