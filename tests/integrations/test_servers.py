"""The examples under real servers in subprocesses on 127.0.0.1, stopped with SIGTERM by PID:
every event from every worker lands, none twice, each with its request's context.

The exporters' interval is 300 s, far longer than a run, so what lands was exported by the
shutdown path under test (gunicorn's worker exit, the ASGI lifespan, Celery's process signals),
not by the timer.  The test counts what the servers acknowledged (200 responses, tasks the
broker saw processed) and compares it with the event ids that landed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from integration_helpers import BIN, EXAMPLES, check_exact, drive_spread, free_port, landed_rows, server, stop
from waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

USERS = 40


def environment(tmp_path: Path) -> dict[str, str]:
    exports = tmp_path / "exports"
    return {
        "OPENFEATURE_S3_EXPORT_URL": exports.as_uri(),
        "EXPORT_FLUSH_INTERVAL": "300",
        "TEST_LOG_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }


@pytest.mark.parametrize(
    ("worker_class", "max_requests"),
    [("sync", 0), ("gthread", 0), ("sync", 7)],
    ids=["sync", "gthread", "sync-max-requests"],
)
def test_flask_under_gunicorn_preload_four_workers(
    tmp_path: Path, worker_class: str, max_requests: int
) -> None:
    port = free_port()
    env = {**environment(tmp_path), "WORKER_CLASS": worker_class}
    args = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "app:app"]
    if max_requests:  # workers recycled mid-run: each one leaving must flush what it captured
        args += ["--max-requests", str(max_requests)]
    with server(args, EXAMPLES / "flask_app", env, port) as process:
        users, pids = drive_spread(port, USERS)
    assert process.returncode == 0
    assert len(pids) > 1, "one worker served everything: the test did not exercise several"
    if max_requests:
        assert len(pids) > 4, "no worker was recycled"
    check_exact(landed_rows(tmp_path / "exports"), users)


@pytest.mark.parametrize("workers", [1, 2])
def test_fastapi_under_uvicorn(tmp_path: Path, workers: int) -> None:
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)]
    if workers > 1:
        args += ["--workers", str(workers)]
    with server(args, EXAMPLES / "fastapi_app", environment(tmp_path), port):
        users, pids = drive_spread(port, USERS, rounds=1 if workers == 1 else 10)
    assert len(pids) == workers
    check_exact(landed_rows(tmp_path / "exports"), users)


def test_django_under_gunicorn_preload(tmp_path: Path) -> None:
    port = free_port()
    args = [
        str(BIN / "gunicorn"),
        "shop.wsgi",
        "--preload",
        "--workers",
        "3",
        "--bind",
        f"127.0.0.1:{port}",
    ]
    with server(args, EXAMPLES / "django_project", environment(tmp_path), port) as process:
        users, pids = drive_spread(port, USERS)
    assert process.returncode == 0
    assert len(pids) > 1
    check_exact(landed_rows(tmp_path / "exports"), users)


@pytest.mark.parametrize("max_tasks_per_child", [0, 9], ids=["prefork", "prefork-recycled"])
def test_celery_prefork_worker(tmp_path: Path, max_tasks_per_child: int) -> None:
    import subprocess

    from celery import Celery

    env = {**environment(tmp_path), "BROKER_DIR": str(tmp_path / "broker")}
    for name in ("queue", "processed", "control"):
        (tmp_path / "broker" / name).mkdir(parents=True)
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "tasks", "worker"),
            *("--pool", "prefork", "--concurrency", "2"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"),
            # Recycled pool processes leave mid-run: each must flush what it captured.
            *(("--max-tasks-per-child", str(max_tasks_per_child)) if max_tasks_per_child else ()),
        ],
        cwd=EXAMPLES / "celery_worker",
        env={**os.environ, **env},
        stdout=log,
        stderr=log,
    )
    try:
        sender = Celery("sender", broker="filesystem://")
        sender.conf.broker_transport_options = {
            "data_folder_in": str(tmp_path / "broker" / "queue"),
            "data_folder_out": str(tmp_path / "broker" / "queue"),
            "control_folder": str(tmp_path / "broker" / "control"),
        }
        for i in range(USERS):
            sender.send_task("tasks.render_home", args=[f"user-{i}", "fr"])
            sender.send_task("tasks.purchase", args=[f"user-{i}", i + 0.5])
        processed = tmp_path / "broker" / "processed"
        # The broker moves each message to processed/ once a pool process has acknowledged it.
        wait_until(
            lambda: worker.poll() is not None or len(list(processed.iterdir())) == 2 * USERS,
            what="the worker to process every task",
        )
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        stop(worker)
        log.close()
    output = (tmp_path / "worker.log").read_text()
    assert worker.returncode == 0, output[-3000:]
    check_exact(landed_rows(tmp_path / "exports"), USERS)
    # File names carry the writing process's pid: part-...-<host>-<pid>-<random>-<seq>.json.gz
    writers = {p.name.rsplit("-", 3)[1] for p in (tmp_path / "exports").rglob("*.json.gz")}
    assert len(writers) > (2 if max_tasks_per_child else 0), writers
