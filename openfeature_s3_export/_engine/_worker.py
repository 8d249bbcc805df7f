"""The engine: a bounded intake queue, the worker thread and the flush protocol.

It knows nothing about OpenFeature: items go in through :attr:`Engine.submit` (the caller's
thread: an append to a ``collections.deque``, no lock, no I/O), the worker turns each into an
encoded line with the ``encode`` it was given, a :class:`Batcher` groups the lines and a
:class:`Sender` ships them (and, with a spill directory, writes to a :class:`Spill` what it
cannot ship, and replays it).  Every item ends up exported, on disk, or counted under
``dropped.<reason>``: nothing is lost silently.  When the threads start, and what a fork
does to them, is in :mod:`._lifecycle`.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable
from itertools import repeat
from typing import Any, Final

from .._accelerated import speedups
from .._counters import Counters, Describe, HotCounter, HotCounters, drop_key, total_dropped
from .._encoding import EncodedLine, line_data
from .._log import RateLimitedLog, logger
from ._batcher import Batcher
from ._lifecycle import DROP_FORK_WITHOUT_HOOKS, Lifecycle
from ._limits import Limits
from ._odd import OddLines, Rescue
from ._sender import DROP_EXPORT_FAILED, Export
from ._signals import leave_signals_to_the_application
from ._spill import add_spill_stats, has_segments

DROP_QUEUE_FULL: Final = "queue_full"
"""Drop reason: events captured while the queue was full (never queued)."""
DROP_SHUTDOWN: Final = "shutdown"
"""Drop reason: events captured after shutdown began, or left in the queue when it ended."""
DROP_INTERNAL_ERROR: Final = "internal_error"
"""Drop reason: events the worker held when a bug in this library stopped it (logged)."""

_CHUNK = 512  # items the worker takes off the queue at a time
_popleft = deque.popleft
_AWAKE = 1 << 62  # _wake_at while the worker is awake: submit does not wake it again


class _FlushRequest:
    """A caller waiting in :meth:`Engine.flush` for the queue to drain."""

    __slots__ = ("deadline", "done", "ok")

    def __init__(self, deadline: float | None) -> None:
        # Only shutdown's final flush bounds the sink's work: after a plain flush times out the
        # worker keeps retrying, because the caller giving up is no reason to lose events.
        self.deadline = deadline
        self.done = threading.Event()
        self.ok = True


_OVERDUE_FACTOR = 3  # a batch this many flush intervals (at least 2 s) late: the process was frozen


class Engine(Lifecycle):
    """Queue, worker, batches and sender for items that *encode* turns into lines for *export*
    (with *skips*, ``None`` for an item not to export, which *encode* counts itself)."""

    # Set by _init_state (again in a forked child); the rest are declared by Lifecycle.
    _wake_at: int
    _wake_threshold: int
    _lock: threading.Lock
    _in_hand: int

    def __init__(
        self,
        encode: Callable[[Any], EncodedLine | None],
        export: Export,
        limits: Limits,
        *,
        what: str,
        start: Callable[[], None] | None = None,
        skips: bool = False,
        rescue: Rescue | None = None,
        frozen_hint: str = "",
    ) -> None:
        self._encode = encode
        self._skips = skips
        self._frozen_hint = frozen_hint
        self._log = RateLimitedLog()
        self._odd = OddLines(encode, rescue, limits, lambda key, n: self._counters.add(key, n), self._log)
        self._export = export
        self._limits = limits
        self._what = what
        self._sink_start = start
        self._max_queue = limits.max_queue_size
        self._hot = HotCounters()
        self._dropped_queue_full = self._hot.register(drop_key(DROP_QUEUE_FULL), self._describe_queue_full)
        self._dropped_shutdown = self._hot.register(drop_key(DROP_SHUTDOWN))
        self._closed = False
        self._init_state()
        self.submit: Callable[[Any], None] = self.submit_python
        """``submit(item)``: queue *item*; never blocks, never raises.  :meth:`submit_python`,
        or its C version, which reads the same attributes and calls the same methods."""
        if speedups is not None:
            self.submit = speedups.Submit(
                state=vars(self), refused=self._refused, wake=self._wake_worker, python=self.submit_python
            )
        self._start_threads(run=False)
        self._wait_for_first_event(reinit=False)
        if limits.spill_dir is not None and has_segments(limits.spill_dir):
            # Threads otherwise start with the first event: what an earlier process left on
            # disk must not wait for one.
            self.start()

    def hot_counter(self, key: str, describe: Describe | None = None) -> HotCounter:
        """A counter the caller's thread bumps without a lock, folded into ``stats()[key]``."""
        return self._hot.register(key, describe)

    # -- caller's thread ------------------------------------------------------------------

    def submit_python(self, item: Any) -> None:
        """Queue *item*; never blocks, never raises (the definition of :attr:`submit`)."""
        # Two comparisons on the way in: _max_queue is 0 until the threads start and once
        # shutdown began, and _wake_at is out of reach while the worker is awake, so every
        # other case takes the slow branch below.
        queue = self._queue
        if len(queue) < self._max_queue:
            queue.append(item)
            if len(queue) >= self._wake_at:
                self._wake_worker()
        else:
            self._refused(item)

    def _wake_worker(self) -> None:
        self._wake_at = _AWAKE
        self._wake.set()

    def _refused(self, item: Any) -> None:
        """The queue is full, closed, or waiting for its first event (caller's thread)."""
        if self._closed:
            self._dropped_shutdown.incr()
        elif self._idle_after_fork:
            self._start_after_fork()
            self.submit_python(item)
        elif self._pid != os.getpid():
            # A fork that ran no os.register_at_fork hooks (uWSGI without lazy-apps or
            # py-call-uwsgi-fork-hooks): this child has no worker, so its queue only filled.
            # Checked here, when the queue is full, to cost the normal path nothing.
            self._recover_from_silent_fork()
            self.submit_python(item)
        else:
            self._dropped_queue_full.incr()

    # -- control --------------------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Export everything submitted so far; wait at most *timeout* seconds.

        ``True`` when every item submitted before the call was handled and none failed to
        export or went to the spill instead.  After a timeout the worker carries on: the sink
        keeps its whole export timeout, because the caller giving up is no reason to lose
        events.
        """
        return self._flush(max(timeout, 0.0), None)

    def _flush(self, timeout: float, deadline: float | None) -> bool:
        """Flush, waiting *timeout* seconds; *deadline* (shutdown's) also bounds the sink."""
        if not self._worker.is_alive():
            return not self._queue
        if threading.current_thread() in (self._worker, self._sender.thread):
            return False  # called from a sink: waiting on ourselves would deadlock
        request = _FlushRequest(deadline)
        with self._lock:
            self._flush_requests.append(request)
        self._wake.set()
        if not request.done.wait(timeout):
            return False
        return request.ok

    def shutdown(self, timeout: float) -> bool:
        """Flush, then stop both threads, within *timeout* seconds.  Idempotent.

        ``True`` only when everything submitted was exported: a failed export, a timeout or an
        event left behind (counted as ``dropped.shutdown``) make it ``False``.
        """
        timeout = max(timeout, 0.0)
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._closed:
                return not self._queue
            self._closed = True
            self._max_queue = 0  # from now on every submit takes the slow branch and is counted
            if self._idle_after_fork:  # never captured anything: no threads to stop
                self._idle_after_fork = False
                return total_dropped(self._counters.snapshot()) == 0
        # One deadline for everything.  The sink's last export ends a little before it (a tenth
        # of the timeout, at most 0.1 s), so that its result is counted and the threads have
        # stopped when shutdown returns.
        sink_deadline = deadline - min(timeout / 10, 0.1)
        self._sender.hurry(sink_deadline)
        ok = self._flush(timeout, sink_deadline)
        self._stopping = True
        self._wake.set()
        self._worker.join(max(deadline - time.monotonic(), 0.0))
        self._sender.thread.join(max(deadline - time.monotonic(), 0.0))
        if self._sender.thread.is_alive():
            self._sender.abandon()  # what is still on the network goes to disk too
        waiting = len(self._batcher) + self._sender.unsent + self._in_hand
        if (self._worker.is_alive() or self._sender.thread.is_alive()) and (waiting or self._queue):
            self._log.warning(
                "shutdown",
                "shutdown timed out with %d events not yet exported (%d queued, %d in batches); "
                "they are lost if the process exits now",
                len(self._queue) + waiting,
                len(self._queue),
                waiting,
            )
            return False
        if self._worker.is_alive() or self._sender.thread.is_alive():
            return False  # out of time, but everything left went to the spill
        if self._queue:
            # Appended by a thread that passed the closed check just before shutdown began.
            self._dropped_shutdown.add(len(self._queue))
            self._queue.clear()
            ok = False
        self._sender.close_spill()
        self._fold_hot_counters()
        # True means nothing was lost since the start (or the fork): a drop counted long ago
        # is as much a hole in the data as one in the final flush.
        return ok and total_dropped(self._counters.snapshot()) == 0

    def hurry(self) -> None:
        """From now on send every event as soon as it is encoded (the process is ending).

        Called when SIGTERM reached a framework that shuts down gracefully and then kills the
        process without an exit hook (uvicorn): events captured meanwhile must not wait for a
        full batch.  Costs the caller one ``Event.set`` per event from then on.
        """
        self._hurry = True
        self._wake_threshold = self._wake_at = 1
        self._wake.set()

    @property
    def closed(self) -> bool:
        """Whether :meth:`shutdown` has begun."""
        return self._closed

    def stats(self) -> dict[str, int]:
        """The engine's counters (see ``EventExporter.stats``)."""
        self._fold_hot_counters()
        values, unsent, backlog = self._sender.snapshot()
        queued = len(self._queue)  # read once: the caller's threads keep appending
        values["enqueued"] = self._taken + queued
        for key in ("exported", "failed", "retried_events", "retried_requests", "batches", "bytes"):
            values.setdefault(key, 0)
        values["dropped"] = total_dropped(values)
        values["queued"] = queued
        values["pending"] = len(self._batcher) + unsent + self._in_hand
        if self._limits.spill_dir is not None:
            add_spill_stats(values, backlog)
        return values

    # -- worker ---------------------------------------------------------------------------

    def _init_state(self) -> None:
        limits = self._limits
        self._pid = os.getpid()
        self._fork_stranded = 0
        self._queue = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._flush_requests: list[_FlushRequest] = []
        self._stopping = False
        self._counters = Counters()
        self._hot.reset()  # a forked child starts its counts from zero, like the rest
        self._batcher = Batcher(limits.max_batch_size, limits.max_batch_bytes, limits.flush_interval)
        self._taken = 0  # items taken off the queue (for "enqueued")
        self._in_hand = 0  # taken by the worker, not yet in the batcher or the sender
        self._hurry = False
        # Wake the worker early, whatever the batch size: it encodes items into the batch as
        # they come, so the queue (raw items, the costly part) stays short.
        self._wake_threshold = self._wake_at = min(limits.max_batch_size, 256)

    def _fold_hot_counters(self) -> None:
        if self._fork_stranded:
            self._log.warning(
                DROP_FORK_WITHOUT_HOOKS,
                "process forked without running os.register_at_fork hooks (uWSGI: enable lazy-apps "
                "or py-call-uwsgi-fork-hooks); restarted the exporter, %d queued events discarded",
                self._fork_stranded,
            )
            self._fork_stranded = 0
        with self._lock:
            self._hot.fold(self._counters, lambda key, message: self._log.warning(key, "%s", message))

    def _describe_queue_full(self, count: int) -> str:
        return (
            f"event queue full ({self._limits.max_queue_size} events): dropped {count} events; "
            "raise max_queue_size or check that the sink keeps up"
        )

    def _run(self) -> None:
        leave_signals_to_the_application()
        interval = self._limits.flush_interval
        replay = self._spill is not None
        while True:
            if replay and not self._stopping:
                # One spilled batch at a time, only when the sender has nothing else: live
                # batches never wait behind more than one replay batch.
                self._sender.replay_one(self._limits.max_batch_size, self._limits.max_batch_bytes)
            if not self._queue and not self._flush_requests and not self._stopping:
                # Items below the wake threshold do not wake the worker (that would cost the
                # caller a lock per event): it looks at least once per flush_interval, and a
                # batch's age counts from capture, so no event waits longer than that.
                left = self._batcher.seconds_left()
                self._wake.wait(interval if left is None else left)
            # Cleared before re-armed: a caller that crosses the threshold in between finds
            # it out of reach and does not wake us (we are about to drain anyway); re-armed
            # first, its wake-up would be cleared here and the next could not come for a
            # whole flush_interval.
            self._wake.clear()
            self._wake_at = self._wake_threshold
            self._cycle()
            if self._stopping and not self._queue and not self._flush_requests:
                self._sender.stop()
                return

    def _cycle(self) -> None:
        with self._lock:
            requests, self._flush_requests = self._flush_requests, []
        ok = False
        try:
            failed_before = self._failures()
            deadline = min((r.deadline for r in requests if r.deadline is not None), default=None)
            self._drain(deadline)
            self._check_overdue()
            batcher = self._batcher
            if batcher.lines and (requests or self._stopping or self._hurry or batcher.seconds_left() == 0.0):
                nbytes = batcher.nbytes
                self._sender.send(batcher.take(), nbytes, deadline)
            sent = self._sender.wait_sent(deadline) if requests or self._stopping else True
            self._fold_hot_counters()
            ok = sent and self._failures() == failed_before
        except Exception:  # a bug here must not kill the worker thread, nor lose events unseen
            logger.exception("openfeature-s3-export worker error")
            self._counters.add(drop_key(DROP_INTERNAL_ERROR), self._in_hand)
            self._in_hand = 0
        finally:
            for request in requests:
                request.ok = ok
                request.done.set()

    def _failures(self) -> tuple[int, int]:
        return self._counters.get(drop_key(DROP_EXPORT_FAILED)), self._counters.get("spilled")

    def _drain(self, deadline: float | None) -> None:
        """Move every queued item into batches, sending each batch once it is complete."""
        # The worker's hot loop: every event passes here.  Items are taken a chunk at a time
        # so that the per-item Python work is the encode call alone; sizes, the size limit and
        # batching run over whole chunks in C (map, max, accumulate, bisect).
        queue = self._queue
        encode = self._encode
        check_above = self._odd.check_above
        while queue:
            # Only this thread takes from the queue, so it holds at least len(queue) items.
            items = list(map(_popleft, repeat(queue, min(len(queue), _CHUNK))))  # popped in C
            self._taken += len(items)
            self._in_hand = len(items)
            if self._skips:  # one at a time: a stateful encode must never see an item twice
                lines, items = self._odd.encode_each(items)
            else:
                try:
                    # the loop in C: the common case (without skips, encode never returns None)
                    lines = list(map(encode, items))  # type: ignore[arg-type]
                except Exception:
                    lines, items = self._odd.encode_each(items)  # one item is odd: one at a time
            sizes = list(map(len, map(line_data, lines)))
            if sizes and max(sizes) > check_above:
                lines, sizes = self._odd.shrink(items, lines, sizes)
            done = self._batcher.extend(lines, sizes)
            self._in_hand = sum(len(batch) for batch, _ in done)
            for batch, nbytes in done:
                self._in_hand -= len(batch)
                self._sender.send(batch, nbytes, deadline)

    def _check_overdue(self) -> None:
        """Say so when a batch is far past due: the process was frozen with events pending
        (AWS Lambda between invocations, SIGSTOP, a suspended host)."""
        interval = self._limits.flush_interval
        late = self._batcher.overdue()
        if late > max(_OVERDUE_FACTOR * interval, 2.0):
            self._counters.add("overdue_batches")
            self._log.warning(
                "overdue",
                "a batch of %d events left %.1f s after it was due: this process was frozen or "
                "starved with events pending%s",
                len(self._batcher),
                late,
                self._frozen_hint,
            )
