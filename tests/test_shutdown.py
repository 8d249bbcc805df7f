"""Shutdown: what is left in the queue is counted, and the final flush is bounded by the timeout.

Both were mutation survivors before core v2 (the count of leftover events removed; the final
flush's deadline replaced with ``None``).  Each race is built by construction, not by timing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from openfeature.evaluation_context import EvaluationContext

import openfeature_s3_export._engine._worker as worker_module
from openfeature_s3_export import EncodedLine, EventExporter, ExportResult, InMemorySink
from openfeature_s3_export._capture import track_record
from openfeature_s3_export._counters import total_dropped

AFTER_ENQUEUE_EXCLUDED = ("dropped.queue_full", "dropped.shutdown", "dropped.capture_error")


def _lost_after_enqueue(stats: dict[str, int]) -> int:
    return total_dropped(stats) - sum(stats.get(key, 0) for key in AFTER_ENQUEUE_EXCLUDED)


def _late_records(n: int) -> list[tuple[object, ...]]:
    return [track_record(f"late-{i}", None, None, "u", None, None, None) for i in range(n)]


def test_events_left_in_the_queue_at_shutdown_are_counted_as_dropped() -> None:
    """A caller thread that passed the ``closed`` check just before shutdown began appends its
    record after the worker's last look.  Built deterministically: the records are appended
    right after both threads stopped (from the sender thread's ``join``), before shutdown looks
    at the queue a last time."""
    sink = InMemorySink()
    exporter = EventExporter(sink, register_atexit=False)
    engine = exporter._engine
    for i in range(7):
        exporter.track(f"on-time-{i}", EvaluationContext("u"))
    late = _late_records(3)
    sender = engine._sender.thread
    real_join = sender.join

    def join_then_append(timeout: float | None = None) -> None:
        real_join(timeout)
        assert not engine._worker.is_alive() and not sender.is_alive()
        engine._queue.extend(late)

    sender.join = join_then_append  # type: ignore[method-assign]
    exporter.shutdown(timeout=10)
    stats = dict(exporter.stats())
    assert [r.event_name for r in sink.row_objects()] == [f"on-time-{i}" for i in range(7)]
    assert stats["dropped.shutdown"] == 3
    assert stats["queued"] == 0 and stats["pending"] == 0
    # Every event accounted for: submitted = exported + dropped (any reason) ...
    assert stats["exported"] + total_dropped(stats) == 10
    # ... and the documented identity holds.
    assert stats["enqueued"] == stats["exported"] + stats["queued"] + stats["pending"] + _lost_after_enqueue(
        stats
    )


def test_shutdown_reports_false_when_it_drops_leftover_events() -> None:
    """``shutdown`` is ``True`` only when everything queued was exported (was: the flush's
    result, even after counting leftovers as ``dropped.shutdown``)."""
    exporter = EventExporter(InMemorySink(), register_atexit=False)
    exporter.track("on-time")  # the threads start with the first event
    engine = exporter._engine
    sender = engine._sender.thread
    real_join = sender.join

    def join_then_append(timeout: float | None = None) -> None:
        real_join(timeout)
        engine._queue.extend(_late_records(1))

    sender.join = join_then_append  # type: ignore[method-assign]
    assert exporter.shutdown(timeout=10) is False


class DeadlineSink:
    """Records the deadline of every export and blocks until it (or until released).

    The export fails when it meets its deadline, as a real sink out of retry budget would.
    """

    def __init__(self) -> None:
        self.deadlines: list[float] = []
        self.release = threading.Event()
        self.entered = threading.Event()

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        assert deadline is not None
        self.deadlines.append(deadline)
        self.entered.set()
        # Capped so that a broken deadline cannot keep a thread alive for an hour after the test.
        if self.release.wait(max(min(deadline - time.monotonic(), 30.0), 0.0)):
            return ExportResult(delivered=len(batch))
        return ExportResult(delivered=0, failed=batch, error="deadline reached")

    def shutdown(self) -> None:
        self.release.set()


@pytest.fixture
def deadline_sink() -> Iterator[DeadlineSink]:
    sink = DeadlineSink()
    yield sink
    sink.release.set()


def test_the_final_flush_bounds_the_sinks_work_by_the_shutdown_timeout(deadline_sink: DeadlineSink) -> None:
    """``shutdown(timeout)`` hands the sink a deadline no later than its own: a sink that works
    until its deadline cannot hold shutdown for ``export_timeout`` (an hour here).  Asserted on
    the deadline the sink received, not on elapsed time."""
    exporter = EventExporter(deadline_sink, export_timeout=3600, register_atexit=False)
    exporter.track("e", EvaluationContext("u"))
    timeout = 0.5
    called = time.monotonic()
    ok = exporter.shutdown(timeout=timeout)
    returned = time.monotonic()
    (deadline,) = deadline_sink.deadlines
    # The sink's last export ends a tenth of the timeout (at most 0.1 s) before shutdown's own
    # deadline, so that its result is counted and the threads stopped when shutdown returns.
    margin = min(timeout / 10, 0.1)
    assert called + timeout - margin <= deadline <= returned + timeout - margin
    assert deadline < called + 3600
    assert ok is False  # the sink reached its deadline: counted, not lost
    stats = exporter.stats()
    assert stats["dropped.export_failed"] + stats["pending"] == 1 and stats["exported"] == 0


class RecordingClock:
    """The ``time`` module for ``_engine._worker``, remembering every monotonic reading."""

    def __init__(self) -> None:
        self.readings: list[float] = []

    def monotonic(self) -> float:
        now = time.monotonic()
        self.readings.append(now)
        return now


def test_the_final_flush_deadline_is_shutdowns_own(
    deadline_sink: DeadlineSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    exporter = EventExporter(deadline_sink, export_timeout=3600, register_atexit=False)
    exporter.track("e", EvaluationContext("u"))
    clock = RecordingClock()
    monkeypatch.setattr(worker_module, "time", clock)
    timeout = 0.2
    exporter.shutdown(timeout=timeout)
    shutdown_deadline = clock.readings[0] + timeout  # Engine.shutdown reads the clock first
    (deadline,) = deadline_sink.deadlines
    assert deadline <= shutdown_deadline


def test_a_plain_flush_does_not_bound_the_sink(deadline_sink: DeadlineSink) -> None:
    """Only shutdown's final flush cuts the sink short: after a plain ``flush`` gives up, the
    export keeps its whole ``export_timeout``, because the caller giving up is no reason to lose
    events."""
    exporter = EventExporter(deadline_sink, export_timeout=3600, register_atexit=False)
    exporter.track("e", EvaluationContext("u"))
    called = time.monotonic()
    assert exporter.flush(timeout=0.05) is False
    assert deadline_sink.entered.wait(30)
    (deadline,) = deadline_sink.deadlines
    assert deadline >= called + 3600
    deadline_sink.release.set()
    assert exporter.flush(timeout=30)
    assert exporter.stats()["exported"] == 1
    assert exporter.shutdown(timeout=10)
