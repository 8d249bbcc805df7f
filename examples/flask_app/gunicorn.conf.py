"""gunicorn settings for the Flask example: the app loaded once in the master (``--preload``),
then four forked workers, each with its own export queue and worker thread."""

from __future__ import annotations

import os
from typing import Any

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
worker_class = os.environ.get("WORKER_CLASS", "sync")  # "gthread" works the same
threads = int(os.environ.get("THREADS", "4"))
preload_app = True
graceful_timeout = 20


def worker_exit(server: Any, worker: Any) -> None:
    """Flush this worker's events before it exits (atexit would too; this makes it explicit)."""
    from app import s3export

    s3export.shutdown(timeout=10)
