"""The pipeline: a bounded queue, two daemon threads, batching, counters and lifecycle.

The caller's thread only appends a capture record to a ``collections.deque`` (about 50 ns, no
lock, no I/O).  The worker turns records into rows, encodes them and groups them into batches
(N events, B bytes or T seconds, whichever comes first); a sender thread hands each batch to
the sink.  While a batch is on the network the worker keeps encoding the next one, so a slow
round trip does not stall the queue.  Every event ends up exported, or counted under
``dropped.<reason>``: nothing is lost silently.
"""

from __future__ import annotations

import atexit
import itertools
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from openfeature import api
from openfeature.evaluation_context import EvaluationContext

from . import capture, rows
from ._counters import Counters, drop_key
from ._encoding import EncodedLine, EncodingError
from ._log import RateLimitedLog, logger
from .privacy import ContextPolicy
from .sinks._base import ExportResult, Sink, sink_stats

DROP_QUEUE_FULL = "queue_full"
DROP_SHUTDOWN = "shutdown"
DROP_CAPTURE_ERROR = "capture_error"
DROP_UNSERIALIZABLE = "unserializable"
DROP_TOO_LARGE = "too_large"
DROP_EXPORT_FAILED = "export_failed"
DROP_FORK_WITHOUT_HOOKS = "fork_without_hooks"


class _HotCounter:
    """A counter the caller's thread can bump without a lock.

    ``itertools.count.__next__`` is a single C call, so it is atomic under the GIL where
    ``self.n += 1`` is not.  Reading goes through the same iterator, so each read is
    compensated for.
    """

    __slots__ = ("_count", "_reads", "_taken", "incr")

    def __init__(self) -> None:
        self._count = itertools.count()
        self.incr = self._count.__next__
        self._reads = 0
        self._taken = 0

    def add(self, amount: int) -> None:
        for _ in range(amount):
            self.incr()

    def take(self) -> int:
        """The increments since the last ``take`` (callers hold the exporter's lock)."""
        total = next(self._count) - self._reads
        self._reads += 1
        delta, self._taken = total - self._taken, total
        return delta


class _FlushRequest:
    """A caller waiting in :meth:`EventExporter.flush` for the queue to drain."""

    __slots__ = ("deadline", "done", "ok")

    def __init__(self, deadline: float | None) -> None:
        # Only shutdown's final flush bounds the sink's work: after a plain flush times out the
        # worker keeps retrying, because the caller giving up is no reason to lose events.
        self.deadline = deadline
        self.done = threading.Event()
        self.ok = True


class EventExporter:
    """Batches captured events on a background thread and ships them to a sink.

    :param sink: where batches go (:class:`~openfeature_s3_export.FileSink`, an AWS sink, or
        anything implementing :class:`~openfeature_s3_export.sinks.Sink`).
    :param max_queue_size: events held in memory at most; when full, new events are dropped
        and counted as ``dropped.queue_full``.
    :param max_batch_size: a batch is exported as soon as it holds this many events...
    :param max_batch_bytes: ...or this many encoded bytes...
    :param flush_interval: ...or its oldest event has waited this many seconds.
    :param max_event_bytes: encoded events larger than this are dropped (``dropped.too_large``).
    :param export_timeout: longest a single batch export (sink retries included) may take.
    :param shutdown_timeout: how long the ``atexit`` handler waits for the final flush.
    :param service_name: written to every row (defaults to ``$OTEL_SERVICE_NAME``).
    :param environment: written to every row (for example ``"production"``).
    :param context_policy: which context attributes are exported (allow/deny lists,
        LaunchDarkly ``privateAttributes``); by default all, minus private attributes.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        sink: Sink,
        *,
        max_queue_size: int = 20_000,
        max_batch_size: int = 5000,
        max_batch_bytes: int = 4 * 1024 * 1024,
        flush_interval: float = 5.0,
        max_event_bytes: int = 1_000_000,
        export_timeout: float = 30.0,
        shutdown_timeout: float = 5.0,
        service_name: str | None = None,
        environment: str | None = None,
        context_policy: ContextPolicy | None = None,
        register_atexit: bool = True,
    ) -> None:
        if max_queue_size < 1 or max_batch_size < 1 or max_batch_bytes < 1 or max_event_bytes < 1:
            raise ValueError("queue and batch limits must be positive")
        if flush_interval <= 0 or export_timeout <= 0 or shutdown_timeout < 0:
            raise ValueError("flush_interval and export_timeout must be positive")
        self.sink = sink
        self._max_queue = max_queue_size
        self._max_batch = max_batch_size
        # Wake the worker early, whatever the batch size: it encodes records into the pending
        # batch as they come, so the queue (raw records, the costly part) stays short.
        self._wake_at = min(max_batch_size, 256)
        self._max_batch_bytes = max_batch_bytes
        self._max_event_bytes = max_event_bytes
        self._interval = flush_interval
        self._export_timeout = export_timeout
        self._shutdown_timeout = shutdown_timeout
        self._rows = rows.RowBuilder(
            rows.Source(
                service_name=service_name or os.environ.get("OTEL_SERVICE_NAME"),
                environment=environment,
            ),
            context_policy,
        )
        self._log = RateLimitedLog()
        self._closed = False
        self._init_state()
        self._start_worker()
        # Weak references: registering must not keep an abandoned exporter (and its sink) alive.
        ref = weakref.WeakMethod(self._after_fork_in_child)
        os.register_at_fork(after_in_child=lambda: (m := ref()) and m())
        if register_atexit:
            exit_ref = weakref.WeakMethod(self._at_exit)
            atexit.register(lambda: (m := exit_ref()) and m())

    # -- caller's thread ------------------------------------------------------------------

    def _submit(self, record: tuple[Any, ...]) -> None:
        """Queue a capture record; never blocks, never raises."""
        queue = self._queue
        if len(queue) < self._max_queue and not self._closed:
            queue.append(record)
            if len(queue) >= self._wake_at and not self._wake.is_set():
                self._wake.set()
        elif self._closed:
            self._dropped_shutdown.incr()
        elif self._pid != os.getpid():
            # A fork that ran no os.register_at_fork hooks (uWSGI without lazy-apps or
            # py-call-uwsgi-fork-hooks): this child has no worker, so its queue only filled.
            # Checked here, when the queue is full, to cost the normal path nothing.
            self._recover_from_silent_fork()
            self._submit(record)
        else:
            self._dropped_queue_full.incr()

    def _capture_failed(self) -> None:
        """Count an event the caller's thread could not capture (bug or hostile input)."""
        self._dropped_capture.incr()

    def _vendor_track_failed(self, provider: str, exc: BaseException) -> None:
        """Count a vendor ``track`` that raised (the event itself was exported); the worker logs."""
        self._last_vendor_track_error = f"{provider}.track raised {exc!r}"
        self._vendor_track_errors.incr()

    def track(
        self,
        event_name: str,
        evaluation_context: Any = None,
        value: float | None = None,
        attributes: Mapping[str, Any] | None = None,
        *,
        provider_name: str | None = None,
        domain: str | None = None,
    ) -> None:
        """Record a track event (a conversion, a metric) for experiment analysis.

        ``evaluation_context`` is merged over the OpenFeature API and transaction contexts, as
        ``client.track`` does.  Never raises and never blocks; to also forward the event to the
        flag vendor, call ``client.track`` on a client whose provider is wrapped in
        :class:`~openfeature_s3_export.TrackingProvider` instead.
        """
        try:
            context = _merged_context(evaluation_context)
            self._submit(
                capture.track_record(
                    event_name,
                    provider_name,
                    domain,
                    context.targeting_key,
                    context.attributes,
                    value,
                    attributes,
                )
            )
        except Exception:
            self._capture_failed()

    # -- public control -------------------------------------------------------------------

    def flush(self, timeout: float = 30.0) -> bool:
        """Export everything queued so far; wait at most *timeout* seconds.

        Returns ``True`` when every event queued before the call was handled and none failed
        to export, ``False`` on timeout or failure (see :meth:`stats` for the counts).  After a
        timeout the worker carries on exporting in the background.
        """
        return self._flush(timeout, final=False)

    def _flush(self, timeout: float, *, final: bool) -> bool:
        if not self._worker.is_alive():
            return not self._queue
        if threading.current_thread() in (self._worker, self._sender):
            return False  # called from a sink: waiting on ourselves would deadlock
        request = _FlushRequest(time.monotonic() + max(timeout, 0.0) if final else None)
        with self._lock:
            self._flush_requests.append(request)
        self._wake.set()
        if not request.done.wait(max(timeout, 0.0)):
            return False
        return request.ok

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Flush, stop the worker and shut the sink down, within *timeout* seconds.

        Events captured afterwards are dropped and counted as ``dropped.shutdown``.  Returns
        ``True`` when everything queued was exported.  Safe to call more than once.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._lock:
            if self._closed:
                return not self._queue
            self._closed = True
        ok = self._flush(timeout, final=True)
        self._stopping = True
        self._wake.set()
        self._worker.join(max(deadline - time.monotonic(), 0.0))
        self._sender.join(max(deadline - time.monotonic(), 0.0))
        if self._worker.is_alive() or self._sender.is_alive():
            self._log.warning(
                "shutdown",
                "shutdown timed out with %d events not yet exported (%d queued, %d in batches); "
                "they are lost if the process exits now",
                len(self._queue) + len(self._pending) + self._unsent,
                len(self._queue),
                len(self._pending) + self._unsent,
            )
            return False
        if self._queue:
            # Appended by a thread that passed the closed check just before shutdown began.
            self._dropped_shutdown.add(len(self._queue))
            self._queue.clear()
        self._fold_hot_counters()
        try:
            self.sink.shutdown()
        except Exception:
            logger.exception("sink shutdown failed")
            ok = False
        return ok and not self._queue

    def stats(self) -> Mapping[str, int]:
        """Counters: ``enqueued``, ``exported``, ``dropped`` (total) and ``dropped.<reason>``,
        ``failed``, ``retried``, ``batches``, ``bytes`` (encoded bytes handed to the sink),
        ``queued`` (records waiting for the worker), ``pending`` (encoded events in batches not
        yet exported), ``vendor_track_errors``, plus the sink's own counters under
        ``sink.<name>``.

        Every event is accounted for: ``enqueued == exported + queued + pending + dropped after
        enqueue`` (every reason except ``queue_full``, ``shutdown`` and ``capture_error``,
        which are counted before an event enters the queue).
        """
        self._fold_hot_counters()
        values = self._counters.snapshot()
        values["enqueued"] = self._taken + len(self._queue)
        for key in ("exported", "failed", "retried", "batches", "bytes"):
            values.setdefault(key, 0)
        values["dropped"] = sum(v for k, v in values.items() if k.startswith("dropped."))
        values["queued"] = len(self._queue)
        values["pending"] = len(self._pending) + self._unsent
        for key, value in sink_stats(self.sink).items():
            values[f"sink.{key}"] = value
        return values

    # -- worker ---------------------------------------------------------------------------

    def _init_state(self) -> None:
        self._pid = os.getpid()
        self._fork_stranded = 0
        self._queue: deque[tuple[Any, ...]] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._flush_requests: list[_FlushRequest] = []
        self._stopping = False
        self._counters = Counters()
        self._dropped_queue_full = _HotCounter()
        self._dropped_shutdown = _HotCounter()
        self._dropped_capture = _HotCounter()
        self._vendor_track_errors = _HotCounter()
        self._last_vendor_track_error = ""
        # Batches handed to the sender: at most one being exported and one waiting.  When both
        # slots are taken the worker waits, the queue fills, and new events are counted as
        # queue_full: memory stays bounded by the queue plus three batches.
        self._outbox: deque[tuple[list[EncodedLine], float]] = deque()
        self._out_cv = threading.Condition(threading.Lock())
        self._in_flight = 0
        self._unsent = 0  # events in batches handed to the sender and not yet exported
        self._sender_stop = False
        self._pending: list[EncodedLine] = []
        self._pending_bytes = 0
        self._pending_since = 0.0
        self._taken = 0  # records taken off the queue (for "enqueued")

    def _start_worker(self) -> None:
        self._worker = threading.Thread(target=self._run, name="openfeature-s3-export", daemon=True)
        self._sender = threading.Thread(
            target=self._send_loop, name="openfeature-s3-export-sender", daemon=True
        )
        self._sender.start()
        self._worker.start()

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
            errors = self._vendor_track_errors.take()
            if errors:
                self._counters.add("vendor_track_errors", errors)
                self._log.warning(
                    "vendor_track",
                    "the wrapped provider's track() failed %d times (events still exported); last: %s",
                    errors,
                    self._last_vendor_track_error,
                )
            for reason, counter in (
                (DROP_QUEUE_FULL, self._dropped_queue_full),
                (DROP_SHUTDOWN, self._dropped_shutdown),
                (DROP_CAPTURE_ERROR, self._dropped_capture),
            ):
                delta = counter.take()
                if delta:
                    self._counters.add(drop_key(reason), delta)
                    if reason == DROP_QUEUE_FULL:
                        self._log.warning(
                            "queue_full",
                            "event queue full (%d events): dropped %d events; raise max_queue_size "
                            "or check that the sink keeps up",
                            self._max_queue,
                            delta,
                        )

    def _run(self) -> None:
        while True:
            if not self._queue and not self._flush_requests and not self._stopping:
                timeout = self._interval
                if self._pending:
                    timeout = max(self._pending_since + self._interval - time.monotonic(), 0.0)
                self._wake.wait(timeout)
            self._wake.clear()
            try:
                self._cycle()
            except Exception:  # a bug here must not kill the worker thread
                logger.exception("openfeature-s3-export worker error")
            if self._stopping and not self._queue and not self._flush_requests:
                with self._out_cv:
                    self._sender_stop = True
                    self._out_cv.notify_all()
                return

    def _cycle(self) -> None:
        with self._lock:
            requests, self._flush_requests = self._flush_requests, []
        failed_before = self._counters.get(drop_key(DROP_EXPORT_FAILED))
        deadline = min((r.deadline for r in requests if r.deadline is not None), default=None)
        self._drain(deadline)
        due = self._pending and time.monotonic() - self._pending_since >= self._interval
        if self._pending and (requests or self._stopping or due):
            self._export_pending(deadline)
        sent = self._wait_sent(deadline) if requests or self._stopping else True
        self._fold_hot_counters()
        ok = sent and self._counters.get(drop_key(DROP_EXPORT_FAILED)) == failed_before
        for request in requests:
            request.ok = ok
            request.done.set()

    def _drain(self, deadline: float | None) -> None:
        """Move every queued record into pending batches, exporting each batch once full."""
        # Hot loop of the worker (every event passes here): attributes bound to locals, the
        # common path inlined; the rare paths (bad input, batch full) call out.
        popleft = self._queue.popleft
        encode = self._rows.encode
        max_event, max_bytes, max_batch = self._max_event_bytes, self._max_batch_bytes, self._max_batch
        while True:
            try:
                record = popleft()
            except IndexError:
                return
            self._taken += 1  # before anything that can block: stats() must see it
            try:
                encoded = encode(record)
            except Exception as exc:
                self._reject(exc)
                continue
            size = len(encoded.data)
            if size > max_event:
                self._drop(
                    DROP_TOO_LARGE,
                    "event dropped: %d bytes encoded, max_event_bytes is %d",
                    size,
                    max_event,
                )
                continue
            pending = self._pending
            if not pending:
                self._pending_since = time.monotonic()
            elif self._pending_bytes + size > max_bytes:
                self._export_pending(deadline)
                self._pending_since = time.monotonic()
                pending = self._pending
            pending.append(encoded)
            self._pending_bytes += size
            if len(pending) >= max_batch:
                self._export_pending(deadline)

    def _reject(self, exc: Exception) -> None:
        if isinstance(exc, EncodingError):
            self._drop(DROP_UNSERIALIZABLE, "event dropped: %s", exc)
        else:  # hostile input (a __str__ that raises, ...) drops one event only
            self._drop(DROP_UNSERIALIZABLE, "event dropped: cannot build row: %r", exc)

    def _drop(self, reason: str, msg: str, *args: object, count: int = 1) -> None:
        self._counters.add(drop_key(reason), count)
        self._log.warning(reason, msg, *args, count=count)

    def _export_pending(self, deadline: float | None) -> None:
        with self._out_cv:
            while self._in_flight >= 2:
                self._out_cv.wait()
            batch, self._pending, self._pending_bytes = self._pending, [], 0
            # The export clock starts when the sender can take the batch, not while it waits.
            limit = time.monotonic() + self._export_timeout
            self._outbox.append((batch, limit if deadline is None else min(deadline, limit)))
            self._in_flight += 1
            self._unsent += len(batch)
            self._out_cv.notify_all()

    def _wait_sent(self, deadline: float | None) -> bool:
        """Wait until the sender has exported every batch handed to it (``False``: *deadline*)."""
        with self._out_cv:
            while self._in_flight:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._out_cv.wait(remaining)
        return True

    def _send_loop(self) -> None:
        # Let the sink get ready (AWS: build the boto3 client, ~150 ms of imports and model
        # loading) now, typically while the app is still starting, not on the first batch.
        start = getattr(self.sink, "start", None)
        if callable(start):
            try:
                start()
            except Exception as exc:  # the first export will meet (and count) the same problem
                self._log.warning("sink_start", "%r could not get ready: %r", self.sink, exc)
        while True:
            with self._out_cv:
                while not self._outbox and not self._sender_stop:
                    self._out_cv.wait()
                if not self._outbox:
                    return
                batch, deadline = self._outbox.popleft()
            try:
                self._export(batch, deadline)
            except Exception:  # a bug here must not kill the sender thread
                logger.exception("openfeature-s3-export sender error")
            finally:
                with self._out_cv:
                    self._in_flight -= 1
                    self._unsent -= len(batch)
                    self._out_cv.notify_all()

    def _export(self, batch: Sequence[EncodedLine], deadline: float) -> None:
        self._counters.add("batches")
        try:
            result = self.sink.export(batch, deadline=deadline)
        except Exception as exc:
            result = ExportResult(delivered=0, failed=batch, error=repr(exc))
        counters = self._counters
        counters.add("exported", result.delivered)
        counters.add("retried", result.retried)
        counters.add("bytes", sum(len(e.data) for e in batch))
        for reason, count in result.dropped.items():
            self._drop(reason, "sink dropped %d events: %s", count, reason, count=count)
        if result.failed:
            failed = len(result.failed)
            counters.add("failed", failed)
            self._drop(
                DROP_EXPORT_FAILED,
                "export to %s failed, %d events dropped: %s",
                type(self.sink).__name__,
                failed,
                result.error or "unknown error",
                count=failed,
            )

    # -- process lifecycle ----------------------------------------------------------------

    def _recover_from_silent_fork(self) -> None:
        stranded = len(self._queue) + len(self._pending)
        self._after_fork_in_child()
        # The stranded records mix the parent's (which the parent exports) with this child's
        # (lost): counted so the loss is visible, and explained once in the log.
        self._counters.add(drop_key(DROP_FORK_WITHOUT_HOOKS), stranded)
        self._fork_stranded = stranded  # logged by the new worker: this is the caller's thread

    def _after_fork_in_child(self) -> None:
        # The parent still owns (and will export) everything queued before the fork: start the
        # child empty, with fresh locks (the parent's may have been held mid-fork) and worker.
        self._init_state()
        if not self._closed:
            self._start_worker()

    def _at_exit(self) -> None:
        if not self._closed:
            self.shutdown(self._shutdown_timeout)


def _merged_context(evaluation_context: Any) -> Any:
    """API context → transaction context → the given one, as ``client.track`` merges them."""
    context = api.get_evaluation_context().merge(api.get_transaction_context())
    if evaluation_context is not None:
        context = context.merge(evaluation_context)
    return context if context is not None else EvaluationContext()
