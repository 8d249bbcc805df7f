"""Grouping encoded lines into batches: by count, by bytes, by age.  No threads, no waiting."""

from __future__ import annotations

import time
from bisect import bisect_right
from itertools import accumulate

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
        done = self.extend([line], [size])
        return done[0][0] if done else None

    def extend(self, lines: list[EncodedLine], sizes: list[int]) -> list[tuple[list[EncodedLine], int]]:
        """Add *lines* (of *sizes* bytes each), in order.

        Returns the batches completed on the way, each with its size in bytes, to be sent now
        and in this order.  A line larger than ``max_bytes`` travels alone.
        """
        done: list[tuple[list[EncodedLine], int]] = []
        i, n = 0, len(lines)
        # The worker adds a few hundred lines at a time: the running byte total and the cut
        # are C calls (accumulate, bisect), not a Python step per line.
        while i < n:
            if not self.lines:
                self._start(lines[i])
            room = self._max_lines - len(self.lines)
            totals = list(accumulate(sizes[i : i + room]))
            fit = bisect_right(totals, self._max_bytes - self.nbytes)
            if fit == 0:
                if self.lines:  # the next line does not fit: this batch is complete
                    done.append(self._take_sized())
                    continue
                fit = 1
            self.lines.extend(lines[i : i + fit])
            self.nbytes += totals[fit - 1]
            i += fit
            if i < n or len(self.lines) >= self._max_lines:
                done.append(self._take_sized())
        return done

    def _take_sized(self) -> tuple[list[EncodedLine], int]:
        nbytes = self.nbytes
        return self.take(), nbytes

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

    def overdue(self) -> float:
        """Seconds the batch is past due by its first line's capture time (0 when it is not).

        The wall clock, on purpose: it keeps running while a process is frozen.
        """
        if not self.lines:
            return 0.0
        return max(time.time() - self._first_us / 1e6 - self._max_age, 0.0)

    def __len__(self) -> int:
        return len(self.lines)
