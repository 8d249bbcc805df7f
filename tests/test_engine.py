"""Engine and facade details that mutation probes showed no other test pinned down.

Each test names the mutation it kills (hand probes on ``_engine/*``, ``exporter.py`` and
``hook.py``; see the commit message).  Waits are on conditions, never on elapsed time.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagEvaluationDetails, FlagType
from openfeature.hook import HookContext
from waiting import wait_until

from openfeature_s3_export import EncodedLine, EventExporter, ExportHook, ExportResult, InMemorySink
from openfeature_s3_export._capture import TIME_NS, track_record
from openfeature_s3_export._engine import Batcher, Engine, Limits
from openfeature_s3_export.exporter import _DuplicateWarning


def _limits(**overrides: float) -> Limits:
    values: dict[str, float] = {
        "max_queue_size": 100,
        "max_batch_size": 10,
        "max_batch_bytes": 10**6,
        "flush_interval": 3600,
        "max_event_bytes": 100,
        "export_timeout": 30,
    }
    values.update(overrides)
    return Limits(**values)  # type: ignore[arg-type]


def test_an_event_of_exactly_max_event_bytes_is_kept() -> None:
    """Kills ``size > max_event`` -> ``size >= max_event``.  The engine knows nothing of rows:
    items are lines already, so sizes are exact."""
    sink = InMemorySink()
    engine = Engine(lambda line: line, lambda batch, deadline: sink.export(batch), _limits(), what="test")
    fits = EncodedLine(b"x" * 99 + b"\n", 0, None)
    too_big = EncodedLine(b"x" * 100 + b"\n", 0, None)
    engine.submit(fits)
    engine.submit(too_big)
    assert not engine.shutdown(timeout=10), "an event was dropped"
    assert sink.lines == [fits]
    assert engine.stats()["dropped.too_large"] == 1


class ReportingSink:
    """Reports retries and its own drops, as the AWS sinks do."""

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        return ExportResult(
            delivered=len(batch) - 1,
            dropped={"rejected_by_destination": 1},
            retried_events=3,
            retried_requests=2,
        )

    def shutdown(self) -> None:
        pass


def test_what_the_sink_reports_is_counted() -> None:
    """Kills removing the ``retried_*``, ``bytes`` or sink ``dropped.<reason>`` counts."""
    exporter = EventExporter(ReportingSink(), register_atexit=False)
    exporter.track("a", EvaluationContext("u"))
    exporter.track("b", EvaluationContext("u"))
    assert exporter.flush(timeout=10)
    stats = exporter.stats()
    assert stats["batches"] == 1
    assert stats["exported"] == 1
    assert (stats["retried_events"], stats["retried_requests"]) == (3, 2)
    assert stats["dropped.rejected_by_destination"] == 1
    assert stats["bytes"] > 0
    assert not exporter.shutdown(timeout=10), "an event was dropped since the start"


def test_a_full_batch_wakes_the_worker_without_a_flush() -> None:
    """Kills removing the wake-up at ``max_batch_size`` queued items, and a worker that does
    not re-arm it once awake: with an hour-long ``flush_interval`` each batch could only leave
    because the count woke the worker, the second time as well as the first."""
    sink = InMemorySink()
    exporter = EventExporter(sink, max_batch_size=10, flush_interval=3600, register_atexit=False)
    for round_ in (1, 2, 3):
        for i in range(10):
            exporter.track(f"e{i}", EvaluationContext("u"))
        wait_until(lambda n=10 * round_: len(sink.lines) == n, what=f"full batch {round_} to leave")
    assert exporter.shutdown(timeout=10)


def test_the_worker_sleeps_only_until_the_batch_is_due() -> None:
    """Kills ``wake.wait(left)`` -> ``wake.wait(flush_interval)``: the record is captured a
    little under ``flush_interval`` ago, so the worker takes it into a batch that is not due
    yet; it must wake when the batch is due (a fraction of a second), not an hour later."""
    sink = InMemorySink()
    exporter = EventExporter(sink, flush_interval=3600, register_atexit=False)
    record = list(track_record("nearly-due", None, None, "u", None, None, None))
    record[TIME_NS] -= round((3600 - 0.2) * 10**9)
    exporter.intake.submit(tuple(record))
    exporter._engine._wake.set()
    wait_until(lambda: bool(sink.lines), what="the batch to leave when due")
    assert exporter.shutdown(timeout=10)


class FlushingSink(InMemorySink):
    """A sink that (wrongly) calls ``exporter.flush`` from inside ``export``."""

    def __init__(self) -> None:
        super().__init__()
        self.exporter: EventExporter | None = None
        self.results: list[bool] = []

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        assert self.exporter is not None
        self.results.append(self.exporter.flush(timeout=3600))
        return super().export(batch, deadline=deadline)


@pytest.mark.timeout(60)
def test_flush_from_inside_the_sink_returns_instead_of_deadlocking() -> None:
    """Kills removing the own-thread check: the sender would wait an hour for itself."""
    sink = FlushingSink()
    exporter = EventExporter(sink, register_atexit=False)
    sink.exporter = exporter
    exporter.track("e", EvaluationContext("u"))
    assert exporter.flush(timeout=30)
    assert sink.results == [False]
    assert exporter.shutdown(timeout=10)


class CountingSink(InMemorySink):
    def __init__(self, *, fail: bool = False) -> None:
        super().__init__()
        self.shutdowns = 0
        self.fail = fail

    def shutdown(self) -> None:
        self.shutdowns += 1
        if self.fail:
            raise OSError("cannot close")


def test_shutdown_shuts_the_sink_down_once() -> None:
    """Kills removing ``sink.shutdown()`` and the second call's early return."""
    sink = CountingSink()
    exporter = EventExporter(sink, register_atexit=False)
    assert exporter.shutdown(timeout=10)
    assert exporter.shutdown(timeout=10)
    assert sink.shutdowns == 1


def test_a_sink_that_fails_to_shut_down_makes_shutdown_report_false() -> None:
    sink = CountingSink(fail=True)
    exporter = EventExporter(sink, register_atexit=False)
    exporter.track("e", EvaluationContext("u"))
    assert exporter.shutdown(timeout=10) is False
    assert len(sink.lines) == 1


def test_the_duplicate_hook_warning_is_said_once() -> None:
    """Kills removing the once-only guard (the log's 30 s rate limit hides it in a test run)."""
    describe = _DuplicateWarning()
    first = describe(3)
    assert first is not None and "3 duplicate captures" in first
    assert describe(5) is None


def test_evaluations_without_client_metadata_are_never_taken_for_duplicates() -> None:
    """Kills dropping ``evaluation is not None``: a hook context built without client metadata
    (another SDK path, a test) must not make every second evaluation a "duplicate"."""
    sink = InMemorySink()
    exporter = EventExporter(sink, register_atexit=False)
    hook = ExportHook(exporter)
    for _ in range(3):
        context = HookContext("f", FlagType.BOOLEAN, False, EvaluationContext("u"), client_metadata=None)
        hook.finally_after(context, FlagEvaluationDetails("f", True, variant="on"), {})
    assert exporter.flush(timeout=10)
    assert len(sink.lines) == 3
    assert exporter.stats()["duplicate_hook_calls"] == 0
    assert exporter.shutdown(timeout=10)


@pytest.mark.timeout(20)  # a flush left waiting would sit out its 60 s: fail well before
def test_a_bug_in_the_worker_counts_what_it_held_and_releases_flush() -> None:
    """A bug in the library's own worker code must not lose events unseen, kill the worker, or
    leave ``flush`` waiting for its whole timeout.

    STUB: no input makes the engine's own code raise, so the batcher's ``extend`` is replaced
    to inject the fault once.
    """

    class FailingOnce(Batcher):
        __slots__ = ("failed",)

        def extend(self, lines: list[EncodedLine], sizes: list[int]) -> list[tuple[list[EncodedLine], int]]:
            if not getattr(self, "failed", False):
                self.failed = True
                raise RuntimeError("injected bug")
            return super().extend(lines, sizes)

    sink = InMemorySink()
    engine = Engine(lambda line: line, lambda batch, deadline: sink.export(batch), _limits(), what="test")
    engine._batcher = FailingOnce(10, 10**6, 3600)
    line = EncodedLine(b"{}\n", 0, None)
    for _ in range(3):
        engine.submit(line)
    assert engine.flush(timeout=60) is False, "released at once, reporting the failure"
    stats = engine.stats()
    assert stats["dropped.internal_error"] == 3
    assert stats["enqueued"] == stats["exported"] + stats["queued"] + stats["pending"] + 3
    engine.submit(line)
    assert engine.flush(timeout=30) is True, "the worker is still alive"
    assert len(sink.lines) == 1
    engine.shutdown(timeout=5)


def test_flush_without_a_worker_reports_what_is_still_queued() -> None:
    """Kills ``return not self._queue`` -> ``return True`` when the worker is gone (as in a
    child forked without fork hooks, before its queue fills and the exporter restarts)."""
    engine = Engine(
        lambda line: line, lambda batch, deadline: ExportResult(delivered=len(batch)), _limits(), what="t"
    )
    engine.submit(EncodedLine(b"{}\n", 0, None))  # the threads start with the first event
    assert engine.flush(timeout=10)
    engine._stopping = True
    engine._wake.set()
    engine._worker.join(10)
    engine._sender.thread.join(10)
    assert not engine._worker.is_alive()
    assert engine.flush(timeout=1) is True, "nothing queued: nothing left undone"
    engine._stopping = False
    engine.submit(EncodedLine(b"{}\n", 0, None))
    assert engine.flush(timeout=1) is False, "a queued event with no worker to export it"


def test_threads_start_with_the_first_event_or_when_asked() -> None:
    engine = Engine(
        lambda line: line, lambda batch, deadline: ExportResult(delivered=len(batch)), _limits(), what="t"
    )
    assert not engine._worker.is_alive() and not engine._sender.thread.is_alive()
    engine.start()
    assert engine._worker.is_alive() and engine._sender.thread.is_alive()
    engine.start()  # idempotent
    engine.submit(EncodedLine(b"{}\n", 0, None))
    assert engine.shutdown(timeout=10)
