"""EventExporter: batching triggers, flush/shutdown timeouts, drops by reason, counters."""

from __future__ import annotations

import gc
import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
from waiting import wait_until

from openfeature_s3_export import EncodedLine, EventExporter, ExportHook, ExportResult, InMemorySink
from openfeature_s3_export._counters import total_dropped


def _provider() -> InMemoryProvider:
    return InMemoryProvider(
        {
            "f": InMemoryFlag("on", {"on": True, "off": False}),
            "obj": InMemoryFlag("a", {"a": {"color": "red", "sizes": [1, 2]}}),
        }
    )


@pytest.fixture
def sink() -> InMemorySink:
    return InMemorySink()


@pytest.fixture
def exporter(sink: InMemorySink) -> Iterator[EventExporter]:
    exporter = EventExporter(sink, register_atexit=False)
    api.set_provider_and_wait(_provider())
    api.add_hooks([ExportHook(exporter)])
    yield exporter
    exporter.shutdown(timeout=5)


class GateSink:
    """Fault injection: a sink that blocks in export until the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.exported: list[EncodedLine] = []
        self.holding = 0

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        self.holding = len(batch)
        self.entered.set()
        self.gate.wait(30)
        self.exported.extend(batch)
        self.holding = 0
        return ExportResult(delivered=len(batch))

    def shutdown(self) -> None:
        self.gate.set()


def _worker_blocked_on_full_outbox(exporter: EventExporter, sink: GateSink) -> bool:
    """Whether the worker waits in ``Sender.send`` for a slot: a batch is counted as unsent that
    is neither at the (stuck) sink nor in the outbox.  Read under the sender's lock, which the
    worker only releases while it waits, so a ``True`` is a settled state, not a passing one."""
    sender = exporter._engine._sender
    with sender._cv:
        handed_over = sink.holding + sum(len(batch) for batch, *_ in sender._outbox)
        return sender._in_flight >= 2 and sender.unsent > handed_over


class FailingSink:
    """Fault injection: a sink whose destination is down (every export raises)."""

    def __init__(self) -> None:
        self.calls = 0

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        self.calls += 1
        raise ConnectionError("destination unreachable")

    def shutdown(self) -> None:
        pass


def test_flush_exports_everything_and_counts(exporter: EventExporter, sink: InMemorySink) -> None:
    client = api.get_client()
    for i in range(1234):
        client.get_boolean_value("f", False, EvaluationContext(f"u{i}"))
    exporter.track("purchase", EvaluationContext("u1"), 9.99, {"sku": "x"})
    assert exporter.flush(timeout=10)
    stats = exporter.stats()
    assert stats["enqueued"] == 1235
    assert stats["exported"] == 1235
    assert stats["dropped"] == 0
    assert stats["queued"] == 0
    assert len(sink.row_objects()) == 1235
    assert len({e.event_id for e in sink.row_objects()}) == 1235


class BatchRecordingSink(InMemorySink):
    """An in-memory sink that also remembers the size of every batch it received."""

    def __init__(self) -> None:
        super().__init__()
        self.shapes: list[tuple[int, int]] = []

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        self.shapes.append((len(batch), sum(len(e.data) for e in batch)))
        return super().export(batch, deadline=deadline)


@pytest.mark.parametrize(("max_events", "max_bytes"), [(100, 10**9), (10_000, 20_000)])
def test_batches_respect_event_and_byte_limits(max_events: int, max_bytes: int) -> None:
    sink = BatchRecordingSink()
    exporter = EventExporter(
        sink, max_batch_size=max_events, max_batch_bytes=max_bytes, register_atexit=False
    )
    for i in range(1000):
        exporter.track("e", EvaluationContext(f"user-{i}"), i)
    assert exporter.flush(timeout=10)
    assert sum(n for n, _ in sink.shapes) == 1000
    assert all(n <= max_events and size <= max_bytes for n, size in sink.shapes)
    # Batches are filled up to the limit, not sent one event at a time.
    full = [n for n, _ in sink.shapes[:-1]]
    if max_events == 100:
        assert full == [100] * 9
    else:
        longest = max(len(e.data) for e in sink.lines)
        assert min(size for _, size in sink.shapes[:-1]) > max_bytes - longest
    assert exporter.stats()["batches"] == len(sink.shapes)
    exporter.shutdown(timeout=5)


def test_batch_goes_out_after_flush_interval_without_flush(sink: InMemorySink) -> None:
    exporter = EventExporter(sink, flush_interval=0.05, register_atexit=False)
    exporter.track("e", EvaluationContext("u"))
    wait_until(lambda: bool(sink.row_objects()), what="the batch to leave on its own")
    assert len(sink.row_objects()) == 1
    exporter.shutdown(timeout=5)


def test_flush_honours_its_timeout_with_a_stuck_sink() -> None:
    sink = GateSink()
    exporter = EventExporter(sink, register_atexit=False)
    exporter.track("e", EvaluationContext("u"))
    started = time.monotonic()
    assert exporter.flush(timeout=0.2) is False
    # Generous bound: proves flush returned instead of waiting for the 30 s gate.
    assert time.monotonic() - started < 10
    sink.gate.set()
    assert exporter.flush(timeout=10)
    assert len(sink.exported) == 1
    exporter.shutdown(timeout=5)


def test_shutdown_honours_its_timeout_and_reports_false() -> None:
    sink = GateSink()
    exporter = EventExporter(sink, register_atexit=False)
    exporter.track("e", EvaluationContext("u"))
    started = time.monotonic()
    assert exporter.shutdown(timeout=0.2) is False
    assert time.monotonic() - started < 10
    sink.gate.set()


def test_queue_full_drops_newest_counts_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    sink = GateSink()
    exporter = EventExporter(sink, max_queue_size=50, max_batch_size=10, register_atexit=False)
    exporter.track("first", EvaluationContext("u"))
    exporter.flush(timeout=0.01)  # gets the worker into the stuck sink
    assert sink.entered.wait(10)
    caplog.set_level(logging.WARNING, logger="openfeature_s3_export")
    for i in range(500):
        exporter.track("e", EvaluationContext(f"u{i}"))
    stats = exporter.stats()
    assert stats["dropped.queue_full"] == 450
    assert stats["queued"] == 50
    warnings = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited: one line with the count, not one per event
    assert "450" in warnings[0].getMessage()
    sink.gate.set()
    assert exporter.flush(timeout=10)
    stats = exporter.stats()
    assert stats["exported"] == 51
    assert stats["enqueued"] == stats["exported"] + total_dropped(stats) - stats["dropped.queue_full"]
    exporter.shutdown(timeout=5)


def test_failing_sink_is_counted_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    sink = FailingSink()
    caplog.set_level(logging.WARNING, logger="openfeature_s3_export")
    exporter = EventExporter(sink, max_batch_size=10, register_atexit=False)
    for i in range(95):
        exporter.track("e", EvaluationContext(f"u{i}"))
    assert exporter.flush(timeout=10) is False
    stats = exporter.stats()
    assert stats["failed"] == 95
    assert stats["dropped.export_failed"] == 95
    assert stats["exported"] == 0
    assert sink.calls == 10
    lines = [r for r in caplog.records if "export to FailingSink failed" in r.getMessage()]
    assert len(lines) == 1
    assert all(r.exc_info is None for r in caplog.records)  # no traceback spam
    exporter.shutdown(timeout=5)


def test_events_after_shutdown_are_counted(sink: InMemorySink) -> None:
    exporter = EventExporter(sink, register_atexit=False)
    exporter.track("before", EvaluationContext("u"))
    assert exporter.shutdown(timeout=5)
    exporter.track("after", EvaluationContext("u"))
    assert [e.event_name for e in sink.row_objects()] == ["before"]
    assert exporter.stats()["dropped.shutdown"] == 1
    assert exporter.shutdown(timeout=1)  # idempotent


def test_oversized_event_dropped_alone(sink: InMemorySink) -> None:
    exporter = EventExporter(sink, max_event_bytes=10_000, register_atexit=False)
    exporter.track("ok-1", EvaluationContext("u"))
    exporter.track("huge", EvaluationContext("u", {"blob": "x" * 50_000}))
    exporter.track("ok-2", EvaluationContext("u"))
    assert exporter.flush(timeout=10)
    assert [e.event_name for e in sink.row_objects()] == ["ok-1", "ok-2"]
    assert exporter.stats()["dropped.too_large"] == 1
    exporter.shutdown(timeout=5)


def test_object_flag_value_is_copied_at_capture(exporter: EventExporter, sink: InMemorySink) -> None:
    client = api.get_client()
    attributes = {"tags": ["a"], "nested": {"n": 1}}
    value = client.get_object_value("obj", {}, EvaluationContext("u", attributes))
    # The app mutates what it got back and its own context after the evaluation.
    value["color"] = "MUTATED"  # type: ignore[index]
    value["sizes"].append(99)  # type: ignore[index,union-attr]
    attributes["tags"].append("MUTATED")  # type: ignore[attr-defined]
    attributes["nested"]["n"] = 2  # type: ignore[index]
    attributes["late"] = True
    assert exporter.flush(timeout=10)
    row = sink.rows()[0]
    assert row["value"] == '{"color":"red","sizes":[1,2]}'
    assert row["context"] == '{"tags":["a"],"nested":{"n":1}}'


def test_exporter_is_garbage_collected_when_dropped(sink: InMemorySink) -> None:
    """atexit and fork registrations hold weak references only."""
    import weakref

    exporter = EventExporter(sink)
    ref = weakref.ref(exporter)
    exporter.shutdown(timeout=5)
    del exporter
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_queue_size", 0),
        ("max_batch_size", 0),
        ("max_batch_bytes", -1),
        ("max_event_bytes", 0),
        ("flush_interval", 0),
        ("export_timeout", 0.0),
        ("shutdown_timeout", -1),
    ],
)
def test_invalid_configuration_names_the_option(sink: InMemorySink, option: str, value: float) -> None:
    """Each argument is checked on its own and the message names it (and what it got)."""
    with pytest.raises(ValueError, match=rf"^{option} must be .*, got {value!r}$"):
        EventExporter(sink, register_atexit=False, **{option: value})
    EventExporter(sink, register_atexit=False, shutdown_timeout=0).shutdown(1)  # zero is fine here


@pytest.mark.slow
def test_concurrent_producers_lose_nothing(sink: InMemorySink) -> None:
    exporter = EventExporter(sink, max_queue_size=1_000_000, register_atexit=False)
    api.set_provider_and_wait(_provider())
    api.add_hooks([ExportHook(exporter)])
    client = api.get_client()

    def work(n: int) -> None:
        for i in range(2000):
            client.get_boolean_value("f", False, EvaluationContext(f"t{n}-{i}"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert exporter.flush(timeout=30)
    keys = [e.targeting_key for e in sink.row_objects()]
    assert len(keys) == 16_000
    assert len(set(keys)) == 16_000
    exporter.shutdown(timeout=5)


def test_worker_keeps_encoding_while_a_batch_is_on_the_network() -> None:
    """While the sink holds batch 1, batch 2 is encoded and waits; the queue keeps draining."""
    sink = GateSink()
    exporter = EventExporter(sink, max_batch_size=10, max_queue_size=100, register_atexit=False)
    for i in range(10):
        exporter.track("first", attributes={"i": i})
    assert sink.entered.wait(10)  # batch 1 is "on the network"
    for i in range(25):
        exporter.track("second", attributes={"i": i})
    # Drained although the sink is stuck: batch 2 waits for the sender, batch 3 is encoded and
    # the worker waits for a free slot (memory stays bounded); it took all 25 off the queue in
    # one chunk, so the last 5 are in the batch being built.  The worker is then blocked in
    # Sender.send, so the state below is final, not a snapshot.
    wait_until(lambda: _worker_blocked_on_full_outbox(exporter, sink), what="a full outbox")
    stats = exporter.stats()
    assert stats["queued"] == 0
    assert stats["pending"] == 35, "batch 1 at the sink, 2 in the outbox, 3 waiting, 5 being built"
    sink.gate.set()
    assert exporter.flush(timeout=10)
    names = [json.loads(e.data)["event_name"] for e in sink.exported]
    assert names == ["first"] * 10 + ["second"] * 25, "batches leave in order"
    assert exporter.stats()["exported"] == 35 and exporter.stats()["dropped"] == 0
    exporter.shutdown(timeout=5)


def test_sink_start_runs_once_on_the_sender_thread_before_exports() -> None:
    calls: list[tuple[str, str]] = []

    class StartingSink(InMemorySink):
        def start(self) -> None:
            calls.append(("start", threading.current_thread().name))

        def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
            calls.append(("export", threading.current_thread().name))
            return super().export(batch, deadline=deadline)

    exporter = EventExporter(StartingSink(), register_atexit=False)
    exporter.track("e")
    assert exporter.shutdown(timeout=10)
    assert calls == [("start", "openfeature-s3-export-sender"), ("export", "openfeature-s3-export-sender")]


def test_a_failing_sink_start_is_logged_and_exports_still_run(caplog: pytest.LogCaptureFixture) -> None:
    class BrokenStart(InMemorySink):
        def start(self) -> None:
            raise RuntimeError("no client today")

    sink = BrokenStart()
    exporter = EventExporter(sink, register_atexit=False)
    exporter.track("e")
    assert exporter.shutdown(timeout=10)
    assert len(sink.rows()) == 1
    assert any("could not get ready" in r.getMessage() for r in caplog.records)


def test_every_event_is_accounted_for_while_the_sink_is_stuck() -> None:
    sink = GateSink()
    exporter = EventExporter(sink, max_batch_size=10, max_queue_size=50, register_atexit=False)
    for i in range(100):
        exporter.track("e", attributes={"i": i})
    assert sink.entered.wait(10)
    # Final state while the sink is stuck: two batches handed over, a third waiting for a slot.
    wait_until(lambda: _worker_blocked_on_full_outbox(exporter, sink), what="a full outbox")
    stats = exporter.stats()
    after_enqueue = stats["dropped"] - stats.get("dropped.queue_full", 0)
    assert stats["enqueued"] + stats.get("dropped.queue_full", 0) == 100
    assert stats["enqueued"] == stats["exported"] + stats["queued"] + stats["pending"] + after_enqueue
    assert stats["pending"] >= 10, "the batch held by the sink is counted as pending"
    sink.gate.set()
    assert not exporter.shutdown(timeout=10), "events were dropped as queue_full"
    stats = exporter.stats()
    assert stats["queued"] == stats["pending"] == 0
    assert stats["exported"] == stats["enqueued"]
