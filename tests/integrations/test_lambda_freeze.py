"""A Lambda environment frozen after the handler returned, then reclaimed (SIGSTOP, SIGKILL):
every event the decorated handler saw has landed.  The exporter's interval (300 s) is far
longer than the run, so only the decorator's flush can have exported them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from integration_helpers import check_exact, landed_rows

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent


def test_frozen_then_killed_loses_nothing_the_decorator_saw(tmp_path: Path) -> None:
    users = 20
    env = {
        **os.environ,
        "OPENFEATURE_S3_EXPORT_URL": tmp_path.as_uri(),
        "EXPORT_FLUSH_INTERVAL": "300",
        "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent)]),
    }
    process = subprocess.Popen(
        [sys.executable, str(HERE / "lambda_runner.py"), str(users)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line == b"returned\n", process.stderr.read() if process.stderr else line
        os.kill(process.pid, signal.SIGSTOP)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    check_exact(landed_rows(tmp_path), users)
