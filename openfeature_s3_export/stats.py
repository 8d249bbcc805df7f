"""Counters the pipeline and sinks keep, exposed through ``EventExporter.stats()``."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping

DROP_QUEUE_FULL = "queue_full"
DROP_SHUTDOWN = "shutdown"
DROP_CAPTURE_ERROR = "capture_error"
DROP_UNSERIALIZABLE = "unserializable"
DROP_TOO_LARGE = "too_large"
DROP_EXPORT_FAILED = "export_failed"
DROP_FORK_WITHOUT_HOOKS = "fork_without_hooks"

DROP_REASONS = (
    DROP_QUEUE_FULL,
    DROP_SHUTDOWN,
    DROP_CAPTURE_ERROR,
    DROP_UNSERIALIZABLE,
    DROP_TOO_LARGE,
    DROP_EXPORT_FAILED,
    DROP_FORK_WITHOUT_HOOKS,
)
"""Reasons the pipeline itself drops an event; sinks may add their own (``record_too_large``)."""


class Counters:
    """Thread-safe named counters.

    The caller's thread never touches this lock: queue-full drops on the hot path are counted
    with ``itertools.count`` by the pipeline and folded in here by the worker.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: Counter[str] = Counter()

    def add(self, name: str, amount: int = 1) -> None:
        """Add *amount* to counter *name*."""
        if amount:
            with self._lock:
                self._values[name] += amount

    def get(self, name: str) -> int:
        """Current value of counter *name* (0 when never incremented)."""
        with self._lock:
            return self._values[name]

    def snapshot(self) -> dict[str, int]:
        """A copy of every counter."""
        with self._lock:
            return dict(self._values)


def drop_key(reason: str) -> str:
    """The stats key under which drops for *reason* are counted."""
    return f"dropped.{reason}"


def total_dropped(stats: Mapping[str, int]) -> int:
    """Sum of every ``dropped.<reason>`` counter in *stats*."""
    return sum(v for k, v in stats.items() if k.startswith("dropped."))
