"""The library's logger and a rate limiter that folds repeated problems into one line."""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger("openfeature_s3_export")


class RateLimitedLog:
    """Log a recurring problem at most once per *interval* seconds, with a count of repeats.

    Used from the worker thread (and sinks) only: the caller's thread never logs, because a
    logging handler may do I/O.
    """

    def __init__(self, interval: float = 30.0, log: logging.Logger = logger) -> None:
        self._interval = interval
        self._log = log
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, key: str, msg: str, *args: object, count: int = 1) -> None:
        """Log ``msg % args`` under *key* unless one was logged less than *interval* ago."""
        self._emit(logging.WARNING, key, msg, args, count)

    def error(self, key: str, msg: str, *args: object, count: int = 1) -> None:
        """Like :meth:`warning`, at ERROR level."""
        self._emit(logging.ERROR, key, msg, args, count)

    def _emit(self, level: int, key: str, msg: str, args: tuple[object, ...], count: int) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + count
                return
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            msg += " (%d more occurrences since the last report)"
            args = (*args, suppressed)
        self._log.log(level, msg, *args)
