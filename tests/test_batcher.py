"""Batcher (no threads, no waiting) and the bound ``flush_interval`` puts on an event's wait.

A batch's age counts from its first line's *capture* (``timestamp_us``), not from when the
worker got to it.  Before core v2 the clock started at pickup, and the worker only picked up
below-threshold events once per ``flush_interval``: an event could wait about twice the interval.
The unit tests run the batcher on a fake clock, so they assert exact values, never elapsed time.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openfeature.evaluation_context import EvaluationContext
from waiting import wait_until

import openfeature_s3_export._engine._batcher as batcher_module
from openfeature_s3_export import EncodedLine, EventExporter, InMemorySink
from openfeature_s3_export._capture import TIME_NS, track_record
from openfeature_s3_export._engine import Batcher

T0 = 1_750_000_000.0  # the fake wall clock's "now", seconds since the epoch


class FakeClock:
    """Stands in for the ``time`` module inside the batcher: both clocks move only when told."""

    def __init__(self) -> None:
        self.wall = T0
        self.mono = 1000.0

    def time(self) -> float:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += seconds
        self.mono += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeClock]:
    fake = FakeClock()
    monkeypatch.setattr(batcher_module, "time", fake)
    yield fake


def line(captured_at: float, size: int = 10) -> EncodedLine:
    return EncodedLine(b"x" * (size - 1) + b"\n", round(captured_at * 1_000_000), None)


def test_empty_batch_is_never_due(clock: FakeClock) -> None:
    batcher = Batcher(max_lines=10, max_bytes=1000, max_age=5.0)
    assert batcher.seconds_left() is None
    assert batcher.take() == [] and len(batcher) == 0


def test_a_line_captured_max_age_ago_is_due_at_once(clock: FakeClock) -> None:
    batcher = Batcher(max_lines=10, max_bytes=1000, max_age=5.0)
    assert batcher.add(line(T0 - 5.0), 10) is None
    assert batcher.seconds_left() == 0.0
    older = Batcher(max_lines=10, max_bytes=1000, max_age=5.0)
    older.add(line(T0 - 7200.0), 10)  # waited in the queue for two hours: due, not "5 s from now"
    assert older.seconds_left() == 0.0


def test_seconds_left_counts_from_the_first_lines_capture(clock: FakeClock) -> None:
    batcher = Batcher(max_lines=10, max_bytes=1000, max_age=5.0)
    batcher.add(line(T0 - 2.0), 10)  # captured 2 s before the worker saw it
    assert batcher.seconds_left() == pytest.approx(3.0)
    clock.advance(1.0)
    batcher.add(line(clock.wall), 10)  # a later line does not restart the clock
    assert batcher.seconds_left() == pytest.approx(2.0)
    clock.advance(2.0)
    assert batcher.seconds_left() == 0.0
    assert len(batcher.take()) == 2
    batcher.add(line(clock.wall), 10)  # the next batch starts its own clock
    assert batcher.seconds_left() == pytest.approx(5.0)


def test_the_monotonic_clock_bounds_the_age_when_the_wall_clock_steps_back(clock: FakeClock) -> None:
    batcher = Batcher(max_lines=10, max_bytes=1000, max_age=5.0)
    batcher.add(line(T0), 10)
    clock.wall -= 3600.0  # NTP steps the wall clock back an hour
    assert batcher.seconds_left() == pytest.approx(5.0)
    clock.advance(4.0)
    assert batcher.seconds_left() == pytest.approx(1.0)
    clock.advance(1.0)
    assert batcher.seconds_left() == 0.0, "due after max_age on the monotonic clock"


def test_count_limit_returns_the_full_batch(clock: FakeClock) -> None:
    batcher = Batcher(max_lines=3, max_bytes=1000, max_age=5.0)
    lines = [line(T0) for _ in range(3)]
    assert batcher.add(lines[0], 10) is None
    assert batcher.add(lines[1], 10) is None
    assert batcher.add(lines[2], 10) == lines
    assert len(batcher) == 0 and batcher.nbytes == 0 and batcher.seconds_left() is None


def test_byte_limit_sends_the_batch_before_the_line_that_would_overflow_it(clock: FakeClock) -> None:
    batcher = Batcher(max_lines=100, max_bytes=25, max_age=5.0)
    first, second, third = line(T0 - 4.0), line(T0 - 3.0), line(T0 - 1.0)
    assert batcher.add(first, 10) is None
    assert batcher.add(second, 10) is None
    assert batcher.nbytes == 20
    assert batcher.add(third, 10) == [first, second]  # 30 bytes would be over 25
    assert batcher.lines == [third] and batcher.nbytes == 10
    # The new batch's age is the overflowing line's, not the sent batch's first line's.
    assert batcher.seconds_left() == pytest.approx(4.0)
    clock.advance(1.0)
    batcher.add(line(clock.wall), 15)  # exactly at the limit: still fits
    assert batcher.nbytes == 25 and len(batcher) == 2


def test_an_event_captured_long_ago_leaves_on_the_next_look_not_a_whole_interval_later() -> None:
    """``flush_interval`` bounds an event's wait, counted from its capture.

    The record is captured two hours ago (as if it sat in the queue while the worker slept),
    then the worker is woken once, as its idle poll would wake it.  The batch is already older
    than ``flush_interval`` and must leave on that look.  When the batch clock started at
    pickup (before core v2), the worker would have held it for another ``flush_interval``, an
    hour here: the wait below would time out.  No wall-clock threshold: the hour-long interval
    makes the two behaviours differ by far more than any machine's hiccup.
    """
    sink = InMemorySink()
    exporter = EventExporter(sink, flush_interval=3600, register_atexit=False)
    record = list(track_record("late", None, None, "u1", None, None, None))
    record[TIME_NS] -= 7200 * 10**9
    two_hours_ago = record[TIME_NS]
    exporter.intake.submit(tuple(record))
    exporter._engine._wake.set()
    wait_until(lambda: bool(sink.lines), what="the overdue batch to leave")
    (row,) = sink.row_objects()
    assert row.event_name == "late"
    assert sink.lines[0].timestamp_us == two_hours_ago // 1000
    assert exporter.shutdown(timeout=10)


def test_an_event_captured_now_waits_for_its_interval() -> None:
    """The same look with a fresh event sends nothing: the batch is not due yet (the control
    for the test above: it is the capture time that made the difference)."""
    sink = InMemorySink()
    exporter = EventExporter(sink, flush_interval=3600, register_atexit=False)
    exporter.track("fresh", EvaluationContext("u1"))
    exporter._engine._wake.set()
    wait_until(lambda: exporter.stats()["pending"] == 1, what="the worker to take the event")
    assert sink.lines == []
    assert exporter.shutdown(timeout=10)
    assert [r.event_name for r in sink.row_objects()] == ["fresh"]
