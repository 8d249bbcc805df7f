"""KinesisSink against moto's Kinesis Data Streams over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timezone

import pytest
from aws_helpers import by_event_id, client, event_at, kinesis_records, real_events
from faults import RecordFaults

from openfeature_s3_export import (
    EventExporter,
    KinesisSink,
    RetryPolicy,
    SinkConfigurationError,
    sink_from_url,
)
from openfeature_s3_export.sinks.kinesis import MAX_RECORD_BYTES, partition_key

FAST_RETRY = RetryPolicy(max_attempts=20, base_delay=0.001, max_delay=0.01)


def test_round_trip_every_event_once_unaltered(kinesis_stream: str) -> None:
    events = real_events(1200)
    sink = KinesisSink(kinesis_stream)
    result = sink.export(events)
    assert (result.delivered, list(result.failed)) == (1200, [])
    records = kinesis_records(kinesis_stream)
    assert by_event_id([r["Data"] for r in records]) == {
        json.loads(e.data)["event_id"]: e.data for e in events
    }
    # The targeting key is the partition key: one user's events share a shard.
    shards_per_user: dict[str, set[str]] = defaultdict(set)
    for record in records:
        row = json.loads(record["Data"])
        assert record["PartitionKey"] == row["targeting_key"]
        shards_per_user[record["PartitionKey"]].add(record["ShardId"])
    assert all(len(shards) == 1 for shards in shards_per_user.values())
    assert len(set().union(*shards_per_user.values())) == 2
    assert sink.stats()["requests"] == 3  # 500 + 500 + 200


def test_partition_key_fallbacks() -> None:
    now = datetime.now(timezone.utc)
    anonymous = event_at(now, 1)._replace(routing_key=None)
    assert len({partition_key(anonymous) for _ in range(20)}) == 20  # spread, not one hot shard
    long_key = event_at(now, 2)._replace(routing_key="u" * 300)
    key = partition_key(long_key)
    assert len(key) <= 256 and key == partition_key(long_key)


@pytest.mark.parametrize("throttle_every", [0, 3])
def test_injected_partial_failures_resend_only_failed_records(
    kinesis_stream: str, throttle_every: int
) -> None:
    """INJECTED: 30 % of records fail per call (and every 3rd call throttled): nothing lost."""
    sink_client = client("kinesis")
    faults = RecordFaults(
        sink_client,
        fail_ratio=0.3,
        throttle_every=throttle_every,
        error_code="ProvisionedThroughputExceededException",
    )
    events = real_events(1500)
    sink = KinesisSink(kinesis_stream, client=sink_client, retry=FAST_RETRY)
    result = sink.export(events)
    assert result.delivered == 1500 and not result.failed
    assert faults.injected_failures > 0
    throttled_records = faults.records_attempted - faults.records_sent - faults.injected_failures
    assert faults.records_sent == 1500, "each record reached the stream exactly once"
    assert sink.stats()["retried_records"] == faults.injected_failures + throttled_records
    assert sink.stats()["throttled"] >= faults.injected_failures
    got = by_event_id([r["Data"] for r in kinesis_records(kinesis_stream)])
    assert got == {json.loads(e.data)["event_id"]: e.data for e in events}


def test_oversized_event_is_dropped_with_its_own_reason(kinesis_stream: str) -> None:
    now = datetime.now(timezone.utc)
    batch = [event_at(now, 1), event_at(now, 2, pad=MAX_RECORD_BYTES), event_at(now, 3)]
    result = KinesisSink(kinesis_stream).export(batch)
    assert result.delivered == 2 and dict(result.dropped) == {"record_too_large": 1}
    assert len(kinesis_records(kinesis_stream)) == 2


def test_pipeline_from_url_and_check(kinesis_stream: str) -> None:
    sink = sink_from_url(f"kinesis://{kinesis_stream}")
    assert isinstance(sink, KinesisSink)
    sink.check()
    exporter = EventExporter(sink, register_atexit=False)
    for i in range(100):
        exporter.track("click", attributes={"i": i})
    assert exporter.shutdown(timeout=20)
    assert exporter.stats()["sink.records"] == 100
    assert len(kinesis_records(kinesis_stream)) == 100


def test_check_missing_stream(aws: str) -> None:
    with pytest.raises(SinkConfigurationError, match="no-such-stream"):
        KinesisSink("no-such-stream").check()


def test_injected_fatal_record_code_fails_at_once_without_a_resend(kinesis_stream: str) -> None:
    """INJECTED: 30 % of records fail with KMSAccessDeniedException; none is sent again."""
    sink_client = client("kinesis")
    faults = RecordFaults(sink_client, fail_ratio=0.3, error_code="KMSAccessDeniedException")
    events = real_events(400)
    sink = KinesisSink(kinesis_stream, client=sink_client, retry=FAST_RETRY)
    result = sink.export(events)
    assert faults.injected_failures > 0
    assert faults.records_attempted == 400, "nothing was sent twice"
    assert sink.stats().get("retried_records", 0) == 0
    assert len(result.failed) == faults.injected_failures
    assert result.delivered == faults.records_sent == 400 - faults.injected_failures
    assert "KMSAccessDeniedException" in (result.error or "")
