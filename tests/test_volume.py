"""Flag filters, experiments only, exposure de-duplication and sampling, and their counts.

De-duplication windows are driven by the events' own capture times (the records carry them),
so window expiry is tested without sleeping.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagEvaluationDetails, FlagType
from openfeature.hook import HookContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

from openfeature_s3_export import (
    ContextPolicy,
    Deduplication,
    EventExporter,
    FlagFilter,
    Hashing,
    InMemorySink,
    Sampling,
)
from openfeature_s3_export._capture import evaluation_record, track_record
from openfeature_s3_export._dedup import ExposureLog
from openfeature_s3_export._gate import Gate
from openfeature_s3_export._rows import RowBuilder
from openfeature_s3_export._sampling import position
from openfeature_s3_export._source import Source
from openfeature_s3_export.testing import capture_events

SECOND = 1_000_000_000  # ns


def record(
    user: str | None, flag: str = "f", variant: str | None = "A", at: float = 0.0, metadata: Any = None
) -> tuple[Any, ...]:
    """An evaluation capture record as the hook builds it, captured *at* seconds."""
    hook_context = HookContext(
        flag_key=flag,
        flag_type=FlagType.STRING,
        default_value="d",
        evaluation_context=EvaluationContext(user, {"kind": "user"}),
    )
    details = FlagEvaluationDetails(
        flag_key=flag, value=variant or "d", variant=variant, flag_metadata=metadata or {}
    )
    captured = evaluation_record(hook_context, details)
    return (captured[0], int(1_700_000_000 * SECOND + at * SECOND), *captured[2:])


def builder(**options: Any) -> RowBuilder:
    return RowBuilder(Source(host="h"), gate=Gate(**options))


def exported(rows: RowBuilder, records: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    lines = [rows.encode_gated(r) for r in records]
    return [json.loads(line.data) for line in lines if line is not None]


def balanced(stats: dict[str, int]) -> bool:
    """``stats()``'s accounting identity (see ``EventExporter.stats``)."""
    before_queue = ("dropped.queue_full", "dropped.shutdown", "dropped.capture_error")
    dropped_after = stats["dropped"] - sum(stats.get(k, 0) for k in before_queue)
    accounted = stats["exported"] + stats["queued"] + stats["pending"] + dropped_after
    return stats["enqueued"] == accounted + stats["filtered"] + stats["deduplicated"] + stats["sampled_out"]


# -- flag filters ---------------------------------------------------------------------------


def test_include_and_exclude_by_glob() -> None:
    rows = builder(flag_filter=FlagFilter(include=["checkout-*", "pricing"], exclude=["checkout-internal*"]))
    keys = ["checkout-v2", "checkout-internal-x", "pricing", "pricing-2", "Checkout-v2", "other"]
    assert [r["flag_key"] for r in exported(rows, [record("u", flag=k) for k in keys])] == [
        "checkout-v2",
        "pricing",
    ]


def test_experiments_only_keeps_vendor_marked_and_metadata_marked_flags() -> None:
    rows = builder(flag_filter=FlagFilter(experiments_only=True, experiment_metadata_key="exp"))
    records = [
        record("u", flag="ld-experiment", metadata={"inExperiment": True, "variationIndex": 1}),
        record("u", flag="ld-rollout", metadata={"variationIndex": 1}),
        record("u", flag="flagd-experiment", metadata={"exp": True, "flagSetId": "shop"}),
        record("u", flag="flagd-named", metadata={"exp": "pricing-2026"}),
        record("u", flag="flagd-off", metadata={"exp": False}),
        record("u", flag="flagd-off-text", metadata={"exp": "false"}),
        record("u", flag="plain"),
    ]
    kept = [r["flag_key"] for r in exported(rows, records)]
    assert kept == ["ld-experiment", "flagd-experiment", "flagd-named"]


def test_track_events_are_never_filtered() -> None:
    rows = builder(flag_filter=FlagFilter(include=["nothing"], experiments_only=True))
    (row,) = exported(rows, [track_record("buy", None, None, "u", None, 1.0, None)])
    assert row["event_name"] == "buy"


# -- exposure de-duplication ----------------------------------------------------------------


def test_a_b_a_gives_three_rows_and_repeats_are_dropped() -> None:
    rows = builder(deduplication=Deduplication(window=600))
    variants = ["A", "A", "B", "B", "A", "A"]
    kept = exported(rows, [record("u1", variant=v, at=i) for i, v in enumerate(variants)])
    assert [r["variant"] for r in kept] == ["A", "B", "A"]


def test_units_and_flags_are_separate() -> None:
    rows = builder(deduplication=Deduplication(window=600))
    records = [record(u, flag=f) for u in ("u1", "u2") for f in ("f", "g")] * 2
    assert len(exported(rows, records)) == 4


def test_window_expiry_logs_the_exposure_again() -> None:
    rows = builder(deduplication=Deduplication(window=60))
    times = [0, 30, 59.9, 60.0, 100, 119.9, 120.1]
    kept = exported(rows, [record("u1", at=t) for t in times])
    # A row is logged at 0; 60 s later it is due again (60.0), then 120.1.
    assert [r["timestamp"][17:23] for r in kept] == ["20.000", "20.000", "20.100"]
    assert len(kept) == 3


def test_evaluations_without_a_targeting_key_are_never_deduplicated() -> None:
    rows = builder(deduplication=Deduplication())
    assert len(exported(rows, [record(None)] * 3)) == 3


def test_the_lru_cap_forgets_the_least_recently_seen_unit() -> None:
    rows = builder(deduplication=Deduplication(window=600, max_entries=2))
    kept = exported(
        rows,
        [
            record("u1", at=0),
            record("u2", at=1),
            record("u1", at=2),  # duplicate: u1 is now the most recently seen
            record("u3", at=3),  # evicts u2, the least recently seen
            record("u1", at=4),  # still remembered: duplicate
            record("u2", at=5),  # forgotten: logged again
        ],
    )
    assert [r["targeting_key"] for r in kept] == ["u1", "u2", "u3", "u2"]


def test_memory_stays_bounded_by_the_cap() -> None:
    """100,000 distinct units through a log capped at 1,000 entries hold what 1,000 hold."""
    log = ExposureLog(window_seconds=600, max_entries=1000)

    def fill(start: int, count: int) -> int:
        for i in range(start, start + count):
            log.logged(hash((f"user-{i}", "f")), "A", i)
        return tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        full = fill(0, 1000)
        after = fill(1000, 100_000)
    finally:
        tracemalloc.stop()
    assert len(log) == 1000
    assert after < 1.5 * full, f"{full} bytes at 1,000 units, {after} after 100,000 more"


def test_an_event_that_fails_to_encode_takes_no_slot() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    rows = builder(deduplication=Deduplication())
    bad = list(record("u1"))
    bad[2] = {"odd": Unprintable()}
    from openfeature_s3_export._snapshot import RichAttributes

    bad[2] = RichAttributes(bad[2])
    with pytest.raises(Exception):  # noqa: B017 - the engine drops it as unserializable
        rows.encode_gated(tuple(bad))
    assert len(exported(rows, [record("u1")])) == 1


@pytest.fixture
def provider() -> Iterator[None]:
    api.set_provider_and_wait(InMemoryProvider({"f": InMemoryFlag("A", {"A": "a", "B": "b"})}))
    yield
    api.shutdown()


def test_a_queue_full_drop_takes_no_slot(provider: None) -> None:
    """LaunchDarkly's mobile SDKs once let an event dropped at capacity use its slot, hiding the
    next real exposure.  Here de-duplication runs on the worker, after the queue."""
    sink = InMemorySink()
    exporter = EventExporter(
        sink,
        max_queue_size=1,
        flush_interval=60,
        deduplication=Deduplication(window=600),
        register_atexit=False,
    )
    try:
        intake = exporter.intake
        intake.submit(record("u1", at=0))  # queued
        intake.submit(record("u2", at=1))  # the queue is full: dropped at capacity
        assert exporter.flush(10)
        intake.submit(record("u2", at=2))  # u2's first exposure that got in: must be logged
        assert exporter.flush(10)
        intake.submit(record("u1", at=3))  # a real duplicate
        assert exporter.flush(10)
        stats = dict(exporter.stats())
        assert [r["targeting_key"] for r in sink.rows()] == ["u1", "u2"]
        assert (stats["dropped.queue_full"], stats["deduplicated"]) == (1, 1)
        assert balanced(stats)
    finally:
        exporter.shutdown(10)


def test_deduplication_through_the_hook(provider: None) -> None:
    with capture_events(deduplication=Deduplication()) as captured:
        client = api.get_client()
        for _ in range(5):
            client.get_string_value("f", "d", EvaluationContext("u1"))
            client.get_string_value("f", "d", EvaluationContext("u2"))
        rows = captured.rows()
        stats = dict(captured.exporter.stats())
    assert sorted(r["targeting_key"] for r in rows) == ["u1", "u2"]
    assert stats["deduplicated"] == 8 and balanced(stats)


# -- sampling -------------------------------------------------------------------------------


def test_observed_rate_within_a_binomial_bound_on_100000_keys() -> None:
    n, rate = 100_000, 0.1
    kept = sum(position(f"user-{i}") < rate for i in range(n))
    sd = math.sqrt(n * rate * (1 - rate))
    assert abs(kept - n * rate) < 5 * sd, (kept, n * rate, sd)  # 5 sd: about 1 in 1.7 million


SAMPLE_SCRIPT = """
import json
from openfeature_s3_export import EventExporter, InMemorySink, Sampling
from openfeature.evaluation_context import EvaluationContext
exporter = EventExporter(InMemorySink(), sampling=Sampling(rate=0.3), register_atexit=False)
for i in range(2000):
    exporter.track("buy", EvaluationContext(f"user-{i}"))
exporter.flush(30)
print(json.dumps(sorted(r["targeting_key"] for r in exporter.sink.rows())))
"""


@pytest.mark.slow
def test_the_same_units_are_sampled_in_two_processes() -> None:
    """Two interpreters with different string hash seeds pick the same units."""
    kept = []
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", SAMPLE_SCRIPT],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        kept.append(json.loads(done.stdout))
    assert kept[0] == kept[1]
    assert kept[0] == sorted(f"user-{i}" for i in range(2000) if position(f"user-{i}") < 0.3)
    assert 450 < len(kept[0]) < 750  # about 600


def test_per_flag_rates_are_written_and_nested() -> None:
    rows = builder(sampling=Sampling(rate=0.5, per_flag={"rare-*": 0.05, "all": 1.0}))
    users = [f"user-{i}" for i in range(2000)]
    by_flag: dict[str, set[str]] = {}
    for flag in ("rare-1", "common", "all"):
        kept = exported(rows, [record(u, flag=flag) for u in users])
        assert {r["sample_rate"] for r in kept} == {dict(common=0.5, all=1.0).get(flag, 0.05)}
        by_flag[flag] = {r["targeting_key"] for r in kept}
    tracks = exported(rows, [track_record("buy", None, None, u, None, None, None) for u in users])
    assert {r["sample_rate"] for r in tracks} == {0.5}
    # A unit sampled at a lower rate is in every higher-rate sample, track events included.
    assert by_flag["rare-1"] <= by_flag["common"] == {r["targeting_key"] for r in tracks} <= by_flag["all"]
    assert len(by_flag["all"]) == 2000


def test_rows_without_a_targeting_key_are_sampled_at_random_at_the_rate() -> None:
    rows = builder(sampling=Sampling(rate=0.25))
    kept = exported(rows, [record(None) for _ in range(4000)])
    sd = math.sqrt(4000 * 0.25 * 0.75)
    assert abs(len(kept) - 1000) < 5 * sd
    assert {r["sample_rate"] for r in kept} == {0.25}


# -- every option at once: counts balance ---------------------------------------------------


def test_stats_balance_with_every_option_on(provider: None) -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    with capture_events(
        flag_filter=FlagFilter(exclude=["hidden"]),
        deduplication=Deduplication(),
        sampling=Sampling(rate=0.5),
    ) as captured:
        client = api.get_client()
        for i in range(200):
            context = EvaluationContext(f"user-{i % 50}")
            client.get_string_value("f", "d", context)
            client.get_string_value("hidden", "d", context)
        captured.exporter.track("buy", EvaluationContext("user-1", {"odd": Unprintable()}))
        rows = captured.rows()
        stats = dict(captured.exporter.stats())
    in_sample = sum(position(f"user-{i}") < 0.5 for i in range(50))
    odd_kept = 1 if position("user-1") < 0.5 else 0  # the odd track event degrades, and stays
    assert len(rows) == stats["exported"] == in_sample + odd_kept
    assert stats["filtered"] == 200
    assert stats["sampled_out"] == 4 * (50 - in_sample) + (1 - odd_kept)
    assert stats["deduplicated"] == 3 * in_sample
    assert stats.get("degraded.unencodable", 0) == odd_kept
    assert stats.get("dropped.unserializable", 0) == 0
    assert balanced(stats), stats


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="from 0 to 1"):
        Sampling(rate=2)
    with pytest.raises(ValueError, match="'x'"):
        Sampling(per_flag={"x": -0.1})
    with pytest.raises(ValueError, match="window"):
        Deduplication(window=0)
    with pytest.raises(ValueError, match="max_entries"):
        Deduplication(max_entries=0)
    with pytest.raises(ValueError, match="patterns"):
        FlagFilter(include=[""])


def test_with_every_option_off_the_row_builder_runs_alone() -> None:
    """No gate, no per-item encoding: the fast path is the one measured in docs/performance.md.
    (Reads the engine's private fields: what is checked is which path was wired.)"""
    from openfeature_s3_export import ContextPolicy, Hashing

    def kind(encode: Any) -> object:
        """A bound method's function, else the callable's type (the C ``LineJoiner``)."""
        return getattr(encode, "__func__", type(encode))

    def wired(options: dict[str, Any]) -> tuple[object, bool]:
        exporter = EventExporter(InMemorySink(), register_atexit=False, **options)
        try:
            return kind(exporter._engine._encode), exporter._engine._skips
        finally:
            exporter.shutdown(1)

    plain = kind(RowBuilder(Source()).encode)  # the builder's own encode, C or Python
    for options in ({}, {"context_policy": ContextPolicy(deny={"email"}, allow={"a.b"})}):
        assert wired(options) == (plain, False)
    hashed = {"context_policy": ContextPolicy(hashed={"email"}), "hashing": Hashing("s" * 16)}
    assert wired(hashed) == (RowBuilder.encode_gated, True)


# -- the gate and odd values ----------------------------------------------------------------


def test_an_odd_event_is_decided_once_and_still_filtered_and_hashed() -> None:
    """An event with an odd value is encoded a second time, degraded: the gate's decision
    (filter, de-duplication) is taken once, hashing still applies to the degraded copy, and
    ``hashed`` counts the event once, whichever path it took."""

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    def odd(user: str, flag: str, at: float, value: Any) -> tuple[Any, ...]:
        fields = list(record(user, flag=flag, at=at))
        fields[2] = {"kind": "user", "email": f"{user}@example.com", "odd": value}
        return tuple(fields)

    sink = InMemorySink()
    exporter = EventExporter(
        sink,
        flush_interval=60,
        max_value_bytes=1000,
        context_policy=ContextPolicy(hashed={"email"}),
        hashing=Hashing(secret="s" * 32, key_id="k1", targeting_key=False),
        flag_filter=FlagFilter(exclude=["secret-*"]),
        deduplication=Deduplication(window=600),
        register_atexit=False,
    )
    try:
        submit = exporter.intake.submit
        submit(odd("u1", "f", 0, "lone \ud800 surrogate"))  # fails to encode: rescued
        submit(odd("u1", "f", 1, "lone \ud800 surrogate"))  # a duplicate of the one before
        submit(odd("u2", "f", 2, Unprintable()))  # fails to encode: rescued
        submit(odd("u3", "f", 3, "x" * 5000))  # too large a value: shrunk after the chunk
        submit(odd("u4", "secret-flag", 4, "lone \ud800 surrogate"))  # filtered, odd or not
        assert exporter.flush(10) is True
        stats = dict(exporter.stats())
        rows = sink.rows()
    finally:
        exporter.shutdown(10)
    assert sorted(r["targeting_key"] for r in rows) == ["u1", "u2", "u3"]
    assert all(r["flag_key"] == "f" and r["hash_key_id"] == "k1" for r in rows)
    assert all("@example.com" not in line.data.decode() for line in sink.lines)
    assert (stats["filtered"], stats["deduplicated"], stats["hashed"]) == (1, 1, 3)
    assert stats["degraded.surrogate"] == 1 and stats["degraded.truncated"] == 1
    assert balanced(stats)
