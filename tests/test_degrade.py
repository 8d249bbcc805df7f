"""Odd values degrade, events stay: one odd value in a context, in track attributes or as the
track value never costs the event.  Each odd value becomes a marker and one count under
``degraded.<reason>``; only an event still over ``max_event_bytes`` is dropped.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
from waiting import wait_until

from openfeature_s3_export import EventExporter, ExportHook, InMemorySink, TrackingProvider
from openfeature_s3_export._capture import track_record

MAX_VALUE = 2000


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")

    __repr__ = __str__


def _cycle_list() -> list[Any]:
    loop: list[Any] = [1]
    loop.append(loop)
    return loop


def _cycle_dict() -> dict[str, Any]:
    loop: dict[str, Any] = {"a": 1}
    loop["self"] = loop
    return loop


def _deep(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


# (reason, value) pairs: each value degrades in exactly one way, counted once.
odd_values = st.one_of(
    st.tuples(st.just("surrogate"), st.sampled_from(["\ud800", "a\udfffb", "x\udc80" * 2])),
    st.tuples(st.just("cycle"), st.sampled_from([_cycle_list, _cycle_dict]).map(lambda make: make())),
    st.tuples(st.just("too_deep"), st.sampled_from([40, 200, 5000]).map(_deep)),
    st.tuples(st.just("unencodable"), st.builds(Unprintable)),
    st.tuples(st.just("truncated"), st.integers(MAX_VALUE + 1, 20 * MAX_VALUE).map(lambda n: "z" * n)),
)
bad_metrics = st.sampled_from(["abc", float("nan"), float("inf"), object(), [1]])
placements = st.sampled_from(["evaluation-context", "track-context", "track-attributes", "track-value"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(placements, odd_values, bad_metrics), min_size=1, max_size=8))
def test_every_event_lands_and_every_degradation_is_counted(events: list[Any]) -> None:
    sink = InMemorySink()
    exporter = EventExporter(sink, max_value_bytes=MAX_VALUE, register_atexit=False, handle_sigterm=False)
    api.set_provider_and_wait(
        TrackingProvider(InMemoryProvider({"f": InMemoryFlag("on", {"on": True})}), exporter)
    )
    api.add_hooks([ExportHook(exporter)])
    client = api.get_client()
    expected: Counter[str] = Counter()
    try:
        for n, (placement, (reason, value), metric) in enumerate(events):
            key = f"u{n}"
            if placement == "evaluation-context":
                client.get_boolean_value("f", False, EvaluationContext(key, {"plan": "pro", "odd": value}))
            elif placement == "track-context":
                exporter.track("buy", EvaluationContext(key, {"odd": value}), 1.0)
            elif placement == "track-attributes":
                exporter.track("buy", EvaluationContext(key), 2.0, {"ok": 1, "odd": value})
            else:
                exporter.track("buy", EvaluationContext(key), metric)
                reason = "not_a_number"
            expected[reason] += 1
        assert exporter.flush(timeout=30)
        stats = dict(exporter.stats())
    finally:
        api.clear_hooks()
        assert exporter.shutdown(timeout=10), "nothing was dropped"
    rows = {row["targeting_key"]: row for row in (json.loads(line.data) for line in sink.lines)}
    assert sorted(rows) == sorted(f"u{n}" for n in range(len(events))), "every event landed"
    assert stats["dropped"] == 0
    degraded = Counter({k.split(".", 1)[1]: v for k, v in stats.items() if k.startswith("degraded.")})
    assert degraded == expected
    for n, (placement, (reason, _), _) in enumerate(events):
        row = rows[f"u{n}"]
        if placement == "track-value":
            assert row["metric_value"] is None
            continue
        column = row["attributes"] if placement == "track-attributes" else row["context"]
        odd = json.loads(column)["odd"]
        marker = {
            "surrogate": "\ufffd",
            "cycle": "<cycle>",
            "too_deep": "<too deep>",
            "unencodable": "<unencodable Unprintable>",
            "truncated": "...<truncated>",
        }[reason]
        assert marker in json.dumps(odd, ensure_ascii=False)
        if reason == "truncated":
            assert len(odd.encode()) <= MAX_VALUE


def test_an_event_still_too_large_after_truncation_is_dropped_as_too_large() -> None:
    """Many values, each under ``max_value_bytes``, that add up past ``max_event_bytes``."""
    sink = InMemorySink()
    exporter = EventExporter(
        sink, max_value_bytes=1000, max_event_bytes=5000, register_atexit=False, handle_sigterm=False
    )
    exporter.track("fits", EvaluationContext("a"), None, {"big": "x" * 50_000})
    exporter.track("too-many", EvaluationContext("b"), None, {f"k{i}": "y" * 900 for i in range(10)})
    assert not exporter.shutdown(timeout=10)
    stats = exporter.stats()
    assert [json.loads(line.data)["event_name"] for line in sink.lines] == ["fits"]
    assert stats["degraded.truncated"] == 1 and stats["dropped.too_large"] == 1


def test_a_batch_far_past_due_names_the_lambda_pattern(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """What the worker sees after a freeze: a batch whose first event was captured long ago
    (the wall clock moved on while the process was frozen).  Built by back-dating the capture."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "checkout")
    sink = InMemorySink()
    exporter = EventExporter(sink, flush_interval=0.5, register_atexit=False, handle_sigterm=False)
    record = list(track_record("buy", None, None, "u", None, 1.0, None))
    record[1] = time.time_ns() - 60 * 10**9  # captured a minute ago, before the freeze
    with caplog.at_level(logging.WARNING, logger="openfeature_s3_export"):
        exporter.intake.submit(tuple(record))
        wait_until(lambda: exporter.stats().get("overdue_batches", 0) == 1, what="the overdue warning")
    assert "in AWS Lambda call exporter.flush(timeout) in a finally block" in caplog.text
    assert exporter.shutdown(timeout=10) and len(sink.lines) == 1


def test_shutdown_is_false_after_any_drop_since_the_start() -> None:
    exporter = EventExporter(
        InMemorySink(), max_event_bytes=2000, register_atexit=False, handle_sigterm=False
    )
    exporter.track("small")
    assert exporter.flush(timeout=10)
    exporter.track("large", attributes={f"k{i}": "v" * 100 for i in range(40)})  # dropped: too_large
    exporter.track("small again")
    assert exporter.flush(timeout=10)  # flush speaks for its own batch, which was fine...
    assert exporter.stats()["dropped.too_large"] == 1
    assert not exporter.shutdown(timeout=10)  # ...shutdown for the whole run
    clean = EventExporter(InMemorySink(), register_atexit=False, handle_sigterm=False)
    clean.track("e")
    assert clean.shutdown(timeout=10)
