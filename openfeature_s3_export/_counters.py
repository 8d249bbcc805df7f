"""Counters the pipeline and sinks keep, exposed through ``EventExporter.stats()``."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping


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
