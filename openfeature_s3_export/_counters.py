"""Counters the exporter and the sinks keep, exposed through ``EventExporter.stats()``."""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Callable, Mapping


class Counters:
    """Thread-safe named counters (worker, sender and sink threads; never the caller's)."""

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


class HotCounter:
    """A counter the caller's thread can bump without a lock.

    ``itertools.count.__next__`` is a single C call, so it is atomic under the GIL where
    ``self.n += 1`` is not.  Reading goes through the same iterator, so each read is
    compensated for.  Only one thread may call :meth:`take` at a time.
    """

    __slots__ = ("_count", "_reads", "_taken", "incr")

    def __init__(self) -> None:
        self._count = itertools.count()
        self.incr = self._count.__next__
        """Add one (the caller's thread: a bound C method, no lock)."""
        self._reads = 0
        self._taken = 0

    def add(self, amount: int) -> None:
        """Add *amount* (rare paths only: one C call per unit)."""
        for _ in range(amount):
            self.incr()

    def take(self) -> int:
        """The increments since the last ``take``."""
        total = next(self._count) - self._reads
        self._reads += 1
        delta, self._taken = total - self._taken, total
        return delta


Describe = Callable[[int], "str | None"]
"""Turns a count folded from a hot counter into a warning to log (or ``None``)."""


class HotCounters:
    """The hot counters of one engine, each under its ``stats()`` key, folded into
    :class:`Counters` by one thread at a time."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: list[tuple[str, HotCounter, Describe | None]] = []

    def register(self, key: str, describe: Describe | None = None) -> HotCounter:
        """A new counter folded into ``stats()[key]``; *describe* says what to log for a count."""
        counter = HotCounter()
        self._entries.append((key, counter, describe))
        return counter

    def reset(self) -> None:
        """Forget every count so far (a forked child starts from zero)."""
        for _, counter, _ in self._entries:
            counter.take()

    def fold(self, counters: Counters, warn: Callable[[str, str], None]) -> None:
        """Add the counts since the last fold to *counters*; ``warn(key, message)`` for each
        count its *describe* has something to say about."""
        for key, counter, describe in self._entries:
            delta = counter.take()
            if delta:
                counters.add(key, delta)
                message = describe(delta) if describe is not None else None
                if message:
                    warn(key, message)


def drop_key(reason: str) -> str:
    """The stats key under which drops for *reason* are counted."""
    return f"dropped.{reason}"


def total_dropped(stats: Mapping[str, int]) -> int:
    """Sum of every ``dropped.<reason>`` counter in *stats*."""
    return sum(v for k, v in stats.items() if k.startswith("dropped."))
