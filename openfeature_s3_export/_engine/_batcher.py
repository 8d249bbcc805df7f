"""Grouping encoded lines into batches: by count, by bytes, by age.  No threads, no waiting."""

from __future__ import annotations

import time

from .._encoding import EncodedLine


class Batcher:
    """The batch being built, and when it must go.

    A batch goes out when it holds *max_lines* lines, when the next line would take it past
    *max_bytes*, or when its first line was captured *max_age* seconds ago.  Age counts from the
    capture (the line's ``timestamp_us``), not from when the worker got to it, so
    ``flush_interval`` bounds how long an event waits; a monotonic clock started with the batch
    bounds it too, should the wall clock step back.
    """

    __slots__ = ("_first_us", "_max_age", "_max_bytes", "_max_lines", "_started", "lines", "nbytes")

    def __init__(self, max_lines: int, max_bytes: int, max_age: float) -> None:
        self._max_lines = max_lines
        self._max_bytes = max_bytes
        self._max_age = max_age
        self.lines: list[EncodedLine] = []
        self.nbytes = 0
        self._first_us = 0
        self._started = 0.0

    def add(self, line: EncodedLine, size: int) -> list[EncodedLine] | None:
        """Add *line* (*size* bytes); returns a batch that is complete and must be sent now."""
        lines = self.lines
        if not lines:
            self._start(line)
        elif self.nbytes + size > self._max_bytes:
            full = self.take()
            self._start(line)
            self.lines.append(line)
            self.nbytes = size
            return full
        lines.append(line)
        self.nbytes += size
        return self.take() if len(lines) >= self._max_lines else None

    def _start(self, line: EncodedLine) -> None:
        self._first_us = line.timestamp_us
        self._started = time.monotonic()

    def take(self) -> list[EncodedLine]:
        """The batch as it is (possibly empty), leaving an empty one."""
        lines, self.lines, self.nbytes = self.lines, [], 0
        return lines

    def seconds_left(self) -> float | None:
        """Seconds until the batch is due (0 when it is), ``None`` when it is empty."""
        if not self.lines:
            return None
        by_capture = self._first_us / 1e6 + self._max_age - time.time()
        by_worker = self._started + self._max_age - time.monotonic()
        return max(min(by_capture, by_worker), 0.0)

    def __len__(self) -> int:
        return len(self.lines)
