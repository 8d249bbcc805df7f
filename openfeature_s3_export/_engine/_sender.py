"""The sender: its own thread, an outbox of at most two batches, and what became of each."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Final

from .._counters import Counters, drop_key
from .._encoding import EncodedLine
from .._log import RateLimitedLog, logger
from ..sinks._base import ExportResult

DROP_EXPORT_FAILED: Final = "export_failed"
"""Drop reason: the sink could not deliver the events within its retry budget."""

Export = Callable[[Sequence[EncodedLine], float], ExportResult]
"""``export(batch, deadline)``: deliver a batch by a ``time.monotonic()`` deadline."""


class Sender:
    """Hands batches to *export* on its own thread, one at a time, and counts the results.

    While one batch is on the network the worker builds the next, so a slow round trip does
    not stall the queue.  At most two batches wait here (one being exported, one next): when
    both slots are taken :meth:`send` waits, the worker stops taking events, the queue fills
    and new events are counted as ``queue_full``; memory stays bounded.
    """

    def __init__(
        self,
        export: Export,
        *,
        export_timeout: float,
        counters: Counters,
        log: RateLimitedLog,
        what: str,
        start: Callable[[], None] | None = None,
        run: bool = True,
    ) -> None:
        self._export = export
        self._export_timeout = export_timeout
        self._counters = counters
        self._log = log
        self._what = what
        self._start = start
        self._outbox: deque[tuple[Sequence[EncodedLine], int, float]] = deque()
        self._cv = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._unsent = 0
        self._stopping = False
        self.thread = threading.Thread(target=self._run, name="openfeature-s3-export-sender", daemon=True)
        if run:
            self.thread.start()

    @property
    def unsent(self) -> int:
        """Events in batches handed over and not yet exported (or counted as failed)."""
        return self._unsent

    def send(self, batch: Sequence[EncodedLine], nbytes: int, deadline: float | None = None) -> None:
        """Queue *batch* (*nbytes* encoded bytes), waiting while two batches are already here
        (worker thread only).

        The export gets ``export_timeout`` seconds from when the sender can take it, or until
        *deadline* when that comes first.
        """
        with self._cv:
            self._unsent += len(batch)  # counted while it waits for a slot: stats() must see it
            while self._in_flight >= 2:
                self._cv.wait()
            limit = time.monotonic() + self._export_timeout
            self._outbox.append((batch, nbytes, limit if deadline is None else min(deadline, limit)))
            self._in_flight += 1
            self._cv.notify_all()

    def snapshot(self) -> tuple[dict[str, int], int]:
        """The counters and :attr:`unsent`, read together."""
        with self._cv:
            return self._counters.snapshot(), self._unsent

    def wait_sent(self, deadline: float | None) -> bool:
        """Wait until every batch handed over was exported; ``False`` when *deadline* passed."""
        with self._cv:
            while self._in_flight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cv.wait(remaining)
        return True

    def stop(self) -> None:
        """Let the thread end once the outbox is empty."""
        with self._cv:
            self._stopping = True
            self._cv.notify_all()

    def _run(self) -> None:
        # Let the sink get ready (AWS: build the boto3 client, ~150 ms of imports and model
        # loading) now, with the first event, while the worker fills the first batch.
        if self._start is not None:
            try:
                self._start()
            except Exception as exc:  # the first export will meet (and count) the same problem
                self._log.warning("sink_start", "%s could not get ready: %r", self._what, exc)
        while True:
            with self._cv:
                while not self._outbox and not self._stopping:
                    self._cv.wait()
                if not self._outbox:
                    return
                batch, nbytes, deadline = self._outbox.popleft()
            try:
                self._deliver(batch, nbytes, deadline)
            except Exception:  # a bug here must not kill the sender thread
                logger.exception("openfeature-s3-export sender error")
                with self._cv:
                    self._counters.add(drop_key(DROP_EXPORT_FAILED), len(batch))
                    self._done(batch)

    def _done(self, batch: Sequence[EncodedLine]) -> None:
        """The batch has left (delivered, or counted): free its slot (hold ``_cv``)."""
        self._in_flight -= 1
        self._unsent -= len(batch)
        self._cv.notify_all()

    def _deliver(self, batch: Sequence[EncodedLine], nbytes: int, deadline: float) -> None:
        counters = self._counters
        counters.add("batches")
        try:
            result = self._export(batch, deadline)
        except Exception as exc:
            result = ExportResult(delivered=0, failed=batch, error=repr(exc))
        failed = len(result.failed)
        for reason, count in result.dropped.items():
            self._log.warning(reason, "sink dropped %d events: %s", count, reason, count=count)
        if failed:
            self._log.warning(
                DROP_EXPORT_FAILED,
                "export to %s failed, %d events dropped: %s",
                self._what,
                failed,
                result.error or "unknown error",
                count=failed,
            )
        # Counted and released in one step under the lock, which snapshot() takes too: an
        # event is never seen both pending and exported (or dropped).  Last, so that nothing
        # after it can raise and release the batch twice.
        with self._cv:
            counters.add("exported", result.delivered)
            counters.add("retried_events", result.retried_events)
            counters.add("retried_requests", result.retried_requests)
            counters.add("bytes", nbytes)
            for reason, count in result.dropped.items():
                counters.add(drop_key(reason), count)
            counters.add("failed", failed)
            counters.add(drop_key(DROP_EXPORT_FAILED), failed)
            self._done(batch)
