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
from ._signals import leave_signals_to_the_application
from ._spill import ReplayBatch, Spill

DROP_EXPORT_FAILED: Final = "export_failed"
"""Drop reason: the sink could not deliver the events within its retry budget."""

Export = Callable[[Sequence[EncodedLine], float], ExportResult]
"""``export(batch, deadline)``: deliver a batch by a ``time.monotonic()`` deadline."""

_POLL = 0.05  # how often a worker waiting for a slot looks whether it should spill instead


class Sender:
    """Hands batches to *export* on its own thread, one at a time, and counts the results.

    While one batch is on the network the worker builds the next, so a slow round trip does
    not stall the queue.  At most two batches wait here (one being exported, one next): when
    both slots are taken :meth:`send` waits and the worker stops taking events, so memory
    stays bounded; without a spill the queue then fills and new events are counted as
    ``queue_full``.

    With a *spill*, a batch that fails goes to disk instead of being dropped, and a batch that
    would wait for a slot goes to disk instead while the sink is failing (then one batch on the
    network is enough to learn when it is back), while *pressure()* says the queue is filling
    up, or once shutdown's deadline (*deadline*, or the one given to :meth:`hurry`) has passed;
    after :meth:`abandon`, every batch.  Replay batches (:meth:`replay_one`) go out only when
    nothing else is here.
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
        spill: Spill | None = None,
        pressure: Callable[[], bool] | None = None,
        on_idle: Callable[[], None] | None = None,
        retry_interval: float = 5.0,
        run: bool = True,
    ) -> None:
        self._export = export
        self._export_timeout = export_timeout
        self._counters = counters
        self._log = log
        self._what = what
        self._start = start
        self._spill = spill
        self._pressure = pressure
        self._on_idle = on_idle
        self._retry_interval = retry_interval
        self._outbox: deque[tuple[Sequence[EncodedLine], int, float, ReplayBatch | None]] = deque()
        self._cv = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._unsent = 0
        self._stopping = False
        self._failing = False  # the last export failed: the sink is down
        self._next_replay = 0.0  # while failing: when to try a replay batch again
        self._current: tuple[Sequence[EncodedLine], ReplayBatch | None] | None = None
        self._abandoned = False
        self._spill_after: float | None = None  # shutdown's deadline: spill rather than wait
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
            if self._abandoned:  # shutdown gave up on the sink: nothing more goes to it
                self._to_spill(batch, "shutdown ran out of time")
                return
            self._unsent += len(batch)  # counted while it waits for a slot: stats() must see it
            # While the sink is failing one batch on the network is enough to learn when it is
            # back; the others go to disk at once rather than wait in memory for its verdict.
            while self._in_flight >= (1 if self._failing and self._spill is not None else 2):
                if self._spill is not None and self._should_spill(deadline):
                    self._to_spill(batch, "the sink is failing or the queue filling up")
                    self._unsent -= len(batch)
                    return
                self._cv.wait(None if self._spill is None else _POLL)
            limit = time.monotonic() + self._export_timeout
            self._outbox.append((batch, nbytes, limit if deadline is None else min(deadline, limit), None))
            self._in_flight += 1
            self._cv.notify_all()

    def hurry(self, deadline: float) -> None:
        """Shutdown has begun: past *deadline*, batches waiting for a slot go to the spill."""
        with self._cv:
            self._spill_after = deadline
            self._cv.notify_all()

    def _should_spill(self, deadline: float | None) -> bool:
        if self._spill_after is not None:
            deadline = self._spill_after if deadline is None else min(deadline, self._spill_after)
        return (
            self._failing
            or (deadline is not None and time.monotonic() >= deadline)
            or (self._pressure is not None and self._pressure())
        )

    def _to_spill(self, lines: Sequence[EncodedLine], why: str) -> None:
        """Write *lines* to the spill (hold ``_cv``); what cannot be written is counted there."""
        assert self._spill is not None
        written = self._spill.write(lines)
        if written:
            self._log.warning(
                "spilled",
                "%d events spilled to %s (%s); they are replayed once the sink recovers",
                written,
                self._spill.directory,
                why,
                count=written,
            )

    def replay_one(self, max_lines: int, max_bytes: int) -> bool:
        """Hand the oldest spilled batch to the sink when nothing else is waiting (worker thread).

        While the sink is failing, one batch is tried every ``retry_interval`` seconds: its
        success is what says the sink is back.
        """
        with self._cv:
            if self._spill is None or self._in_flight or self._stopping or self._spill_after is not None:
                return False  # (shutdown has begun: what is on disk waits for the next process)
            now = time.monotonic()
            if self._failing and now < self._next_replay:
                return False
            batch = self._spill.next_batch(max_lines, max_bytes)
            if batch is None:
                return False
            self._outbox.append((batch.lines, batch.nbytes, now + self._export_timeout, batch))
            self._in_flight += 1
            self._cv.notify_all()
            return True

    def abandon(self) -> None:
        """Shutdown ran out of time: spill the batch on the network and those waiting, now.

        The export still running may yet succeed: its events would then arrive twice, which
        at-least-once delivery allows; its result is no longer counted.
        """
        with self._cv:
            if self._spill is None or self._abandoned:
                return
            self._abandoned = True
            batches = [(self._current[0], self._current[1])] if self._current is not None else []
            batches += [(lines, replay) for lines, _, _, replay in self._outbox]
            self._outbox.clear()
            for lines, replay in batches:
                if replay is not None:
                    self._spill.ack(replay, delivered=False)  # still on disk
                else:
                    self._to_spill(lines, "shutdown ran out of time")
                    self._unsent -= len(lines)
                self._in_flight -= 1
            self._current = None
            # Shutdown is over: release the segments now (synced), so that another exporter
            # may adopt them even while this stuck export still holds a thread.
            self._spill.close()
            self._cv.notify_all()

    def snapshot(self) -> tuple[dict[str, int], int, tuple[int, int]]:
        """The counters, :attr:`unsent` and the spill backlog (events, bytes), read together."""
        with self._cv:
            spill = self._spill
            backlog = (spill.backlog_events, spill.backlog_bytes) if spill is not None else (0, 0)
            return self._counters.snapshot(), self._unsent, backlog

    def close_spill(self) -> None:
        """Sync and release the spill's segments (after the thread has stopped)."""
        with self._cv:
            if self._spill is not None:
                self._spill.close()

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
        leave_signals_to_the_application()
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
                batch, nbytes, deadline, replay = self._outbox.popleft()
                self._current = (batch, replay)
            try:
                self._deliver(batch, nbytes, deadline, replay)
            except Exception:  # a bug here must not kill the sender thread
                logger.exception("openfeature-s3-export sender error")
                with self._cv:
                    if self._abandoned:
                        continue
                    if replay is not None:
                        self._spill.ack(replay, delivered=False)  # type: ignore[union-attr]
                        self._in_flight -= 1
                        self._cv.notify_all()
                    else:
                        self._counters.add(drop_key(DROP_EXPORT_FAILED), len(batch))
                        self._done(batch)

    def _done(self, batch: Sequence[EncodedLine]) -> None:
        """The batch has left (delivered, or counted): free its slot (hold ``_cv``)."""
        self._in_flight -= 1
        self._unsent -= len(batch)
        self._current = None
        self._cv.notify_all()
        if not self._in_flight and self._on_idle is not None and self._spill is not None:
            self._on_idle()  # the worker may replay the next spilled batch

    def _replayed(self, replay: ReplayBatch, result: ExportResult, nbytes: int) -> None:
        """Count a replay batch's result (hold ``_cv``): delivered, or left on disk for later."""
        assert self._spill is not None
        ok = not result.failed
        self._counters.add("bytes", nbytes)
        self._counters.add("retried_events", result.retried_events)
        self._counters.add("retried_requests", result.retried_requests)
        if ok:
            self._counters.add("exported", result.delivered)
            for reason, count in result.dropped.items():
                self._counters.add(drop_key(reason), count)
        self._spill.ack(replay, delivered=ok)
        self._failing = not ok
        if not ok:
            self._next_replay = time.monotonic() + self._retry_interval
        self._in_flight -= 1
        self._current = None
        self._cv.notify_all()
        if self._on_idle is not None:
            self._on_idle()

    def _deliver(
        self, batch: Sequence[EncodedLine], nbytes: int, deadline: float, replay: ReplayBatch | None
    ) -> None:
        counters = self._counters
        counters.add("batches")
        try:
            result = self._export(batch, deadline)
        except Exception as exc:
            result = ExportResult(delivered=0, failed=batch, error=repr(exc))
        if replay is not None:
            with self._cv:
                if not self._abandoned:
                    self._replayed(replay, result, nbytes)
            return
        failed = len(result.failed)
        for reason, count in result.dropped.items():
            self._log.warning(reason, "sink dropped %d events: %s", count, reason, count=count)
        if failed and self._spill is None:
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
            if self._abandoned:
                return  # shutdown has spilled this batch already
            counters.add("exported", result.delivered)
            counters.add("retried_events", result.retried_events)
            counters.add("retried_requests", result.retried_requests)
            counters.add("bytes", nbytes)
            for reason, count in result.dropped.items():
                counters.add(drop_key(reason), count)
            counters.add("failed", failed)
            if failed and self._spill is not None:
                self._to_spill(
                    result.failed, f"export to {self._what} failed: {result.error or 'unknown error'}"
                )
            else:
                counters.add(drop_key(DROP_EXPORT_FAILED), failed)
            self._failing = failed > 0
            self._done(batch)
