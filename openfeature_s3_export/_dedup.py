"""Exposure de-duplication: at most one row per (targeting key, flag, variant) within a window.

One entry per (targeting key, flag): the variant last logged and when.  An evaluation is a
duplicate when its entry holds the same variant, logged less than a window ago by event time;
a changed variant is logged again and replaces the entry (A -> B -> A gives three rows).
Entries live in an LRU of bounded size: a unit forgotten to make room is simply logged again.

The check (:meth:`ExposureLog.seen`) and the slot (:meth:`ExposureLog.logged`) are two steps:
the row builder takes the slot only once the row is encoded and on its way to a batch, so an
event that was never queued, or failed to encode, never hides a later one.

Keys are Python's ``hash()`` of (targeting key, flag key), not the strings: 64 bits instead of
two strings per entry.  Two pairs share a hash with probability about n²/2⁶⁵ (3·10⁻¹⁰ at
100,000 entries), and then one exposure of one of them may be skipped once.  ``hash()`` differs
between processes, which does not matter: the log is per process.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any


class ExposureLog:
    """Which (unit, flag) pairs were logged with which variant, and when (worker thread only)."""

    __slots__ = ("_entries", "_max_entries", "_window_us")

    def __init__(self, window_seconds: float, max_entries: int) -> None:
        self._window_us = window_seconds * 1_000_000
        self._max_entries = max_entries
        self._entries: OrderedDict[int, tuple[Any, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def seen(self, key: int, variant: Any, time_us: int) -> bool:
        """Whether a row for *key* with *variant* was logged less than a window before *time_us*."""
        entry = self._entries.get(key)
        if entry is None or entry[0] != variant or time_us - entry[1] >= self._window_us:
            return False
        self._entries.move_to_end(key)  # recently seen: the last to be evicted
        return True

    def logged(self, key: int, variant: Any, time_us: int) -> None:
        """Record that a row for *key* with *variant* was queued for export at *time_us*."""
        entries = self._entries
        entries[key] = (variant, time_us)
        entries.move_to_end(key)
        if len(entries) > self._max_entries:
            entries.popitem(last=False)
