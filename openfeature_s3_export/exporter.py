"""``EventExporter``: the facade that wires the row builder and a sink to the engine."""

from __future__ import annotations

import atexit
import os
import weakref
from collections.abc import Mapping
from typing import Any, Final

from . import _endings
from ._counters import drop_key
from ._degrade import Degrader
from ._engine import Engine, Limits
from ._env import options_from_environment
from ._gate import COUNTERS as _POLICY_COUNTERS
from ._gate import gate_for
from ._log import logger
from ._rows import RowBuilder
from ._source import Source
from .privacy import ContextPolicy, Hashing
from .sinks._base import Sink, sink_stats
from .volume import Deduplication, FlagFilter, Sampling

SPILL_DIR_ENV: Final = "OPENFEATURE_S3_EXPORT_SPILL_DIR"
"""Environment variable naming the spill directory when ``spill_dir`` is not given."""

DROP_CAPTURE_ERROR: Final = "capture_error"
"""Drop reason: the caller's thread could not capture an event (a bug, or hostile input)."""


class Intake:
    """Where :class:`~openfeature_s3_export.ExportHook` and
    :class:`~openfeature_s3_export.TrackingProvider` hand their capture records.

    Public to the package, not to users: ``exporter.intake``.  Everything here runs on the
    caller's thread, so it only appends and bumps lock-free counters; the worker logs.
    """

    __slots__ = (
        "_capture_errors",
        "_duplicates",
        "_vendor_errors",
        "last_evaluation",
        "last_vendor_error",
        "submit",
    )

    def __init__(self, engine: Engine) -> None:
        self.submit = engine.submit
        """``submit(record)``: queue one capture record; never blocks, never raises."""
        self.last_evaluation: object = None
        """The evaluation an ``ExportHook`` of this exporter captured last (see ``hook.py``)."""
        self.last_vendor_error = ""
        self._capture_errors = engine.hot_counter(drop_key(DROP_CAPTURE_ERROR))
        self._vendor_errors = engine.hot_counter("vendor_track_errors", self._describe_vendor_errors)
        self._duplicates = engine.hot_counter("duplicate_hook_calls", _DuplicateWarning())

    def capture_failed(self) -> None:
        """Count an event the caller's thread could not capture."""
        self._capture_errors.incr()

    def vendor_track_failed(self, provider: str, exc: BaseException) -> None:
        """Count a vendor ``track`` that raised (the event itself was exported)."""
        self.last_vendor_error = f"{provider}.track raised {exc!r}"
        self._vendor_errors.incr()

    def duplicate_hook(self) -> None:
        """Count an evaluation seen a second time by another ``ExportHook`` of this exporter."""
        self._duplicates.incr()

    def _describe_vendor_errors(self, count: int) -> str:
        return (
            f"the wrapped provider's track() failed {count} times (events still exported); "
            f"last: {self.last_vendor_error}"
        )


class _DuplicateWarning:
    """Says once that an ``ExportHook`` is registered twice; the duplicates stay counted."""

    def __init__(self) -> None:
        self._said = False

    def __call__(self, count: int) -> str | None:
        if self._said:
            return None
        self._said = True
        return (
            "ExportHook is registered more than once for the same exporter (an app factory run "
            f"twice?): each evaluation is exported once, {count} duplicate captures ignored so far; "
            "register the hook once"
        )


def _check(name: str, value: float, *, minimum: float = 0, inclusive: bool = False) -> None:
    ok = value >= minimum if inclusive else value > minimum
    if not ok:
        bound = f">= {minimum}" if inclusive else f"> {minimum}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")


class EventExporter:
    """Batches captured events on background threads and ships them to a sink.

    :param sink: where batches go (:class:`~openfeature_s3_export.FileSink`, an AWS sink, or
        anything implementing :class:`~openfeature_s3_export.sinks.Sink`).
    :param max_queue_size: events held in memory at most; when full, new events are dropped
        and counted as ``dropped.queue_full``.
    :param max_batch_size: a batch is exported as soon as it holds this many events...
    :param max_batch_bytes: ...or this many encoded bytes...
    :param flush_interval: ...or its first event was captured this many seconds ago: no event
        waits longer than this for its batch to leave.
    :param max_event_bytes: encoded events larger than this (after ``max_value_bytes``) are
        dropped (``dropped.too_large``).
    :param max_value_bytes: one context or track attribute value (or flag value) larger than
        this, encoded, is truncated with a marker and counted as ``degraded.truncated``; the
        event stays.  Other odd values (lone surrogates, cycles, nesting past 32 levels, objects
        whose ``str()`` raises, a track value that is not a number) degrade the same way
        (``degraded.<reason>``, docs/delivery.md).
    :param export_timeout: longest a single batch export (sink retries included) may take.
    :param shutdown_timeout: how long the final flush may take at exit, on SIGTERM and when a
        ``multiprocessing`` child ends.
    :param handle_sigterm: install a SIGTERM handler (from the main thread only) that exports
        what is held within ``shutdown_timeout`` and then ends the process as it would have
        ended without it (docs/delivery.md).  ``False``, or the environment variable
        ``OPENFEATURE_S3_EXPORT_HANDLE_SIGTERM=0``, for applications that manage signals
        themselves: they then call :meth:`shutdown`.
    :param service_name: written to every row (defaults to ``$OTEL_SERVICE_NAME``).
    :param environment: written to every row (for example ``"production"``).
    :param context_policy: which context attributes are exported (allow/deny/hash lists by
        dotted path, LaunchDarkly ``privateAttributes``); by default all, minus private
        attributes.
    :param attributes_policy: the same for track events' ``attributes``; by default all.
    :param hashing: the secret for keyed hashing (HMAC-SHA256) of the targeting key and the
        policies' ``hashed`` paths; every row then names the key in ``hash_key_id``.
    :param flag_filter: which flags' evaluations are exported (include/exclude patterns,
        experiments only).
    :param deduplication: at most one evaluation row per unit, flag and variant within a
        window (off by default; per process).
    :param sampling: deterministic sampling by targeting key, its rate written to each row.
    :param spill_dir: a directory where batches that cannot be delivered (the sink failing
        past ``export_timeout``, the queue filling up during an outage, shutdown running out of
        time) wait on disk, to be replayed when the sink recovers or by the next process
        started on the same directory (defaults to ``$OPENFEATURE_S3_EXPORT_SPILL_DIR``; no
        spill when neither is set).  Several processes may share one.  See ``docs/delivery.md``.
    :param spill_max_bytes: most bytes this process keeps in the spill directory; past it the
        oldest spilled events are dropped (``dropped.spill_cap``).
    :param register_atexit: flush and shut down at interpreter exit, within
        ``shutdown_timeout`` (``False``: the application calls :meth:`shutdown`).

    Privacy and volume options not passed are read from ``OPENFEATURE_S3_EXPORT_*``
    environment variables when set (docs/privacy.md): ``HASH_SECRET``, ``HASH_KEY_ID``,
    ``CONTEXT_DENY``, ``CONTEXT_HASH``, ``FLAGS_INCLUDE``, ``FLAGS_EXCLUDE``,
    ``EXPERIMENTS_ONLY``, ``DEDUP_WINDOW``, ``SAMPLE_RATE``.  They all run on the worker
    thread, before a row is built, for every sink alike.

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
        max_value_bytes: int = 64 * 1024,
        export_timeout: float = 30.0,
        shutdown_timeout: float = 5.0,
        service_name: str | None = None,
        environment: str | None = None,
        context_policy: ContextPolicy | None = None,
        attributes_policy: ContextPolicy | None = None,
        hashing: Hashing | None = None,
        flag_filter: FlagFilter | None = None,
        deduplication: Deduplication | None = None,
        sampling: Sampling | None = None,
        register_atexit: bool = True,
        handle_sigterm: bool = True,
        spill_dir: str | os.PathLike[str] | None = None,
        spill_max_bytes: int = 512 * 1024 * 1024,
    ) -> None:
        for name, value in (
            ("max_queue_size", max_queue_size),
            ("max_batch_size", max_batch_size),
            ("max_batch_bytes", max_batch_bytes),
            ("max_event_bytes", max_event_bytes),
            ("max_value_bytes", max_value_bytes),
            ("flush_interval", flush_interval),
            ("export_timeout", export_timeout),
            ("spill_max_bytes", spill_max_bytes),
        ):
            _check(name, value)
        _check("shutdown_timeout", shutdown_timeout, inclusive=True)
        self.sink = sink
        self._shutdown_timeout = shutdown_timeout
        given = {
            "context_policy": context_policy,
            "hashing": hashing,
            "flag_filter": flag_filter,
            "deduplication": deduplication,
            "sampling": sampling,
        }
        options = {k: v for k, v in options_from_environment().items() if given.get(k) is None}
        options.update((k, v) for k, v in given.items() if v is not None)
        if attributes_policy is not None:
            options["attributes_policy"] = attributes_policy
        # Only options beyond a plain context policy need the gate: without them the row
        # builder's fast path runs alone, as fast as with no option at all.
        gate = gate_for(options)
        rows = RowBuilder(
            Source(service_name=service_name or os.environ.get("OTEL_SERVICE_NAME"), environment=environment),
            options.get("context_policy"),
            gate,
        )
        spill = spill_dir if spill_dir is not None else os.environ.get(SPILL_DIR_ENV) or None
        self.spill_dir = os.fspath(spill) if spill is not None else None
        """The spill directory in use (``None``: failed batches are dropped and counted)."""
        start = getattr(sink, "start", None)
        self._engine = Engine(
            rows.encode if gate is None else rows.encode_gated,
            lambda batch, deadline: sink.export(batch, deadline=deadline),
            Limits(
                max_queue_size=max_queue_size,
                max_batch_size=max_batch_size,
                max_batch_bytes=max_batch_bytes,
                flush_interval=flush_interval,
                max_event_bytes=max_event_bytes,
                export_timeout=export_timeout,
                max_value_bytes=max_value_bytes,
                spill_dir=self.spill_dir,
                spill_max_bytes=spill_max_bytes,
                spill_segment_bytes=min(max(max_batch_bytes, 1024 * 1024), spill_max_bytes // 4 or 1),
            ),
            what=type(sink).__name__,
            start=start if callable(start) else None,
            skips=gate is not None,
            # An odd value degrades the event instead of dropping it; with a gate, the degraded
            # copy is not filtered, sampled or de-duplicated a second time.
            rescue=Degrader(rows.encode if gate is None else rows.encode_decided, max_value_bytes),
            frozen_hint=_endings.frozen_hint(),
        )
        if gate is not None:
            gate.bind_counters(self._engine.hot_counter)
        self.intake = Intake(self._engine)
        """Where the hook and ``TrackingProvider`` hand capture records (package-internal)."""
        # Weak references: registering must not keep an abandoned exporter (and its sink) alive.
        fork_ref = weakref.WeakMethod(self._after_fork_in_child)
        os.register_at_fork(after_in_child=lambda: (m := fork_ref()) and m())
        if register_atexit:
            exit_ref = weakref.WeakMethod(self._at_exit)
            atexit.register(lambda: (m := exit_ref()) and m())
        if _endings.handle_sigterm_enabled(handle_sigterm):
            _endings.register(self)

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
        from .tracking import record_track

        record_track(self.intake, event_name, evaluation_context, value, attributes, provider_name, domain)

    def flush(self, timeout: float = 30.0) -> bool:
        """Export everything queued so far; wait at most *timeout* seconds.

        Returns ``True`` when every event queued before the call was handled and none failed
        to export, ``False`` on timeout or failure, or when events went to the spill instead of
        the sink (see :meth:`stats` for the counts).  After a timeout the worker carries on
        exporting in the background.
        """
        return self._engine.flush(timeout)

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Flush, stop the worker and shut the sink down, within *timeout* seconds.

        Events captured afterwards are dropped and counted as ``dropped.shutdown``.  Returns
        ``True`` only when every event captured since the exporter started (in a forked child:
        since the fork) was exported: ``False`` when any was dropped, for any reason and at any
        time (``stats()["dropped"] > 0``), or when the final flush failed or timed out.  Safe
        to call more than once.
        """
        if self._engine.closed:
            return self._engine.shutdown(timeout)
        ok = self._engine.shutdown(timeout)
        try:
            self.sink.shutdown()
        except Exception:
            logger.exception("sink shutdown failed")
            ok = False
        return ok

    def stats(self) -> Mapping[str, int]:
        """Counters: ``enqueued``, ``exported``, ``dropped`` (total) and ``dropped.<reason>``,
        ``failed`` (events the sink could not deliver: spilled with a ``spill_dir``, otherwise
        dropped as ``export_failed``), ``retried_events`` (events that needed more than one
        send, each counted once), ``retried_requests`` (sink calls that were resends),
        ``degraded.<reason>`` (values replaced by a marker; the events were kept),
        ``overdue_batches`` (batches that left far past due: the process was frozen),
        ``batches``, ``bytes`` (encoded bytes handed to the sink), ``queued`` (records waiting
        for the worker), ``pending`` (encoded events in batches not yet exported),
        ``vendor_track_errors``, ``duplicate_hook_calls`` (evaluations a second ``ExportHook`` of
        this exporter saw and ignored), the privacy and volume options' counts
        (docs/privacy.md): ``filtered``, ``deduplicated``, ``sampled_out`` (events the options
        kept out, on purpose: not drops) and ``hashed`` (exported events with a value hashed),
        plus the sink's own counters under ``sink.<name>``.

        With a ``spill_dir``, also: ``spilled`` (events written to disk), ``replayed`` (events
        read back from disk and delivered; they count in ``exported`` too), ``spill_adopted``
        (events found in segments left by an earlier or another process, adopted for replay),
        ``spill_torn`` (damaged records skipped: a torn tail after a crash mid-write, a CRC
        mismatch), ``spill_dropped`` (the sum of the ``dropped.spill_*`` reasons: ``spill_cap``,
        ``spill_disk_full``, ``spill_error``, ``spill_corrupt``), ``spill_backlog_events`` and
        ``spill_backlog_bytes`` (what this process holds on disk, not yet delivered).

        Every event is accounted for: ``enqueued + spill_adopted == exported + queued + pending
        + spill_backlog_events + dropped after enqueue + filtered + deduplicated + sampled_out``
        (dropped after enqueue: every reason except ``queue_full``, ``shutdown``,
        ``capture_error`` and ``fork_without_hooks``, which count events that never entered
        this process's ``enqueued``; ``hashed`` events are also counted as exported).  A
        spilled event leaves ``pending`` for ``spill_backlog_events`` and, once replayed,
        leaves that for ``exported``; without a spill both spill terms are 0.
        """
        values = self._engine.stats()
        for key in ("vendor_track_errors", "duplicate_hook_calls", *_POLICY_COUNTERS):
            values.setdefault(key, 0)
        for key, value in sink_stats(self.sink).items():
            values[f"sink.{key}"] = value
        return values

    @property
    def shutdown_timeout(self) -> float:
        """Seconds the final flush may take at exit, on SIGTERM or when a child process ends."""
        return self._shutdown_timeout

    def flush_for_ending(self, timeout: float) -> None:
        """The process is ending on its own terms (SIGTERM to a server): export what is held
        and, from now on, every event as soon as it is captured."""
        self._engine.hurry()
        self._engine.flush(timeout)

    def _after_fork_in_child(self) -> None:
        self._engine.after_fork_in_child()
        _endings.finalize_in_child(self)

    def _at_exit(self) -> None:
        if not self._engine.closed:
            self.shutdown(self._shutdown_timeout)


__all__ = ["DROP_CAPTURE_ERROR", "SPILL_DIR_ENV", "EventExporter", "Intake"]
