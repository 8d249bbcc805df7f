"""FirehoseSink against moto's Firehose (Direct PUT into S3) over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from aws_helpers import by_event_id, client, event_at, ndjson_lines, real_events, s3_objects
from faults import RecordFaults

from openfeature_s3_export import (
    EventExporter,
    FirehoseSink,
    RetryPolicy,
    SinkConfigurationError,
    sink_from_url,
)
from openfeature_s3_export.sinks.firehose import MAX_CALL_BYTES, MAX_RECORD_BYTES, billed_bytes

FAST_RETRY = RetryPolicy(max_attempts=20, base_delay=0.001, max_delay=0.01)


def landed(target_bucket: str) -> dict[str, bytes]:
    """Every event Firehose wrote to its S3 destination, by event_id (fails on duplicates)."""
    lines = [line for blob in s3_objects(target_bucket).values() for line in ndjson_lines(blob)]
    return by_event_id(lines)


def test_round_trip_every_event_lands_once_unaltered(delivery_stream: tuple[str, str]) -> None:
    stream, target = delivery_stream
    events = real_events(1200)
    sink = FirehoseSink(stream, record_bytes=20_000)
    result = sink.export(events)
    assert (result.delivered, list(result.failed), dict(result.dropped)) == (1200, [], {})
    got = landed(target)
    assert got == {json.loads(e.data)["event_id"]: e.data for e in events}
    stats = sink.stats()
    assert stats["events"] == 1200
    assert stats["payload_bytes"] == sum(len(e.data) for e in events)
    assert stats["records"] < 1200 / 10, "events are packed several per record"
    assert stats["billed_bytes"] >= stats["payload_bytes"]


def test_through_the_pipeline_from_a_url(delivery_stream: tuple[str, str]) -> None:
    stream, target = delivery_stream
    exporter = EventExporter(sink_from_url(f"firehose://{stream}"), register_atexit=False)
    for i in range(300):
        exporter.track("signup", attributes={"i": i})
    assert exporter.shutdown(timeout=20)
    stats = exporter.stats()
    assert stats["exported"] == 300 and stats["sink.events"] == 300
    assert sorted(json.loads(line)["attributes"] for line in landed(target).values()) == sorted(
        json.dumps({"i": i}, separators=(",", ":")) for i in range(300)
    )


def test_calls_respect_the_service_limits(delivery_stream: tuple[str, str]) -> None:
    stream, target = delivery_stream
    calls: list[list[bytes]] = []
    sink_client = client("firehose")
    sink_client.meta.events.register(
        "before-parameter-build.firehose.PutRecordBatch",
        lambda params, **_: calls.append([r["Data"] for r in params["Records"]]),
    )
    # Unpacked: 1,100 small events need three calls (500 records per call at most).
    small = real_events(1100)
    FirehoseSink(stream, client=sink_client, pack=False).export(small)
    assert [len(c) for c in calls] == [500, 500, 100]
    # Large events: calls stay under 4 MB and records under 1,000 KiB.
    calls.clear()
    big = [event_at(datetime.now(timezone.utc), i, pad=600_000) for i in range(12)]
    result = FirehoseSink(stream, client=sink_client, record_bytes=MAX_RECORD_BYTES).export(big)
    assert result.delivered == 12
    assert all(sum(map(len, c)) <= MAX_CALL_BYTES for c in calls)
    assert all(len(record) <= MAX_RECORD_BYTES for c in calls for record in c)
    assert len(landed(target)) == 1100 + 12


def test_oversized_event_is_dropped_with_its_own_reason(delivery_stream: tuple[str, str]) -> None:
    stream, target = delivery_stream
    now = datetime.now(timezone.utc)
    batch = [event_at(now, 1), event_at(now, 2, pad=MAX_RECORD_BYTES), event_at(now, 3)]
    result = FirehoseSink(stream).export(batch)
    assert result.delivered == 2 and not result.failed
    assert dict(result.dropped) == {"record_too_large": 1}
    assert len(landed(target)) == 2


def test_oversized_event_through_the_pipeline_is_counted(delivery_stream: tuple[str, str]) -> None:
    stream, _ = delivery_stream
    sink = FirehoseSink(stream)
    exporter = EventExporter(
        sink, max_event_bytes=3_000_000, max_value_bytes=3_000_000, register_atexit=False
    )
    exporter.track("small")
    exporter.track("huge", attributes={"blob": "x" * 1_100_000})
    assert not exporter.shutdown(timeout=20), "an event was dropped"
    stats = exporter.stats()
    assert stats["exported"] == 1
    assert stats["dropped.record_too_large"] == 1
    assert stats["sink.record_too_large"] == 1


@pytest.mark.parametrize("pack", [True, False])
def test_injected_partial_failures_resend_only_failed_records(
    delivery_stream: tuple[str, str], pack: bool
) -> None:
    """INJECTED: 30 % of records fail in every call (see faults.py); nothing may be lost."""
    stream, target = delivery_stream
    sink_client = client("firehose")
    faults = RecordFaults(sink_client, fail_ratio=0.3)
    events = real_events(2000)
    sink = FirehoseSink(stream, client=sink_client, pack=pack, record_bytes=8_000, retry=FAST_RETRY)
    result = sink.export(events)
    assert result.delivered == 2000 and not result.failed
    assert faults.injected_failures > 0
    # Only failed records were sent again: every attempt is a first send or a resend of a failure.
    first_sends = sink.stats()["records"]
    assert faults.records_attempted == first_sends + faults.injected_failures
    assert sink.stats()["retried_records"] == faults.injected_failures
    # Every event landed exactly once, byte for byte.
    assert landed(target) == {json.loads(e.data)["event_id"]: e.data for e in events}


def test_injected_throttling_is_retried_with_backoff(delivery_stream: tuple[str, str]) -> None:
    """INJECTED: the first three calls and every 4th call are throttled (nothing sent)."""
    stream, target = delivery_stream
    sink_client = client("firehose")
    faults = RecordFaults(sink_client, fail_ratio=0.3, throttle_calls=3, throttle_every=4)
    events = real_events(1500)
    sink = FirehoseSink(stream, client=sink_client, pack=False, retry=FAST_RETRY)
    result = sink.export(events)
    assert result.delivered == 1500 and not result.failed
    assert faults.throttled >= 3
    assert sink.stats()["throttled"] >= faults.throttled
    assert len(landed(target)) == 1500


def test_retry_budget_exhausted_gives_the_batch_back(delivery_stream: tuple[str, str]) -> None:
    """INJECTED: every call throttled; after the bounded attempts the events come back failed."""
    stream, target = delivery_stream
    sink_client = client("firehose")
    RecordFaults(sink_client, fail_ratio=0.0, throttle_calls=10**9)
    sink = FirehoseSink(
        stream, client=sink_client, retry=RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)
    )
    events = real_events(50)
    result = sink.export(events)
    assert result.delivered == 0 and list(result.failed) == events
    assert "ServiceUnavailableException" in (result.error or "")
    assert sink.stats()["requests"] == 3
    assert landed(target) == {}


def test_billed_bytes_ratio_with_and_without_packing(delivery_stream: tuple[str, str]) -> None:
    stream, _ = delivery_stream
    events = real_events(1000)
    packed, unpacked = FirehoseSink(stream), FirehoseSink(stream, pack=False)
    packed.export(events)
    unpacked.export(events)
    payload = sum(len(e.data) for e in events)
    assert packed.stats()["payload_bytes"] == unpacked.stats()["payload_bytes"] == payload
    packed_ratio = packed.stats()["billed_bytes"] / payload
    unpacked_ratio = unpacked.stats()["billed_bytes"] / payload
    assert packed_ratio <= 1.05
    assert unpacked_ratio > 3  # each ~600-byte event billed as 5 KB
    assert billed_bytes(1) == billed_bytes(5120) == 5120 and billed_bytes(5121) == 10240


def test_check_reports_missing_stream_and_accepts_a_good_one(delivery_stream: tuple[str, str]) -> None:
    stream, _ = delivery_stream
    FirehoseSink(stream).check()
    with pytest.raises(SinkConfigurationError, match="no-such-stream"):
        FirehoseSink("no-such-stream").check()


def test_missing_stream_at_run_time_is_counted_not_raised(aws: str, caplog: pytest.LogCaptureFixture) -> None:
    exporter = EventExporter(FirehoseSink("no-such-stream", retry=FAST_RETRY), register_atexit=False)
    for _ in range(20):
        exporter.track("signup")
    assert not exporter.flush(timeout=20)
    for _ in range(20):
        exporter.track("signup")
    exporter.shutdown(timeout=20)
    stats = exporter.stats()
    assert stats["dropped.export_failed"] == 40 and stats["exported"] == 0
    failures = [r for r in caplog.records if "export" in r.getMessage() and r.name == "openfeature_s3_export"]
    assert 1 <= len(failures) <= 2, "logged once (rate-limited), not once per event"
    assert "ResourceNotFoundException" in failures[0].getMessage()
    assert not any(r.exc_info for r in caplog.records)


def test_no_region_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    with pytest.raises(SinkConfigurationError, match="no AWS region"):
        FirehoseSink("stream").check()
    result = FirehoseSink("stream").export(real_events(3))
    assert len(result.failed) == 3 and "no AWS region" in (result.error or "")


def test_per_service_endpoint_variable(
    moto_endpoint: str, delivery_stream: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stream, target = delivery_stream
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("AWS_ENDPOINT_URL_FIREHOSE", moto_endpoint)
    assert FirehoseSink(stream).export(real_events(5)).delivered == 5
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    assert len(landed(target)) == 5


def test_url_options_and_errors() -> None:
    sink = sink_from_url("firehose://events?pack=false&record_bytes=1000&region=eu-west-1")
    assert isinstance(sink, FirehoseSink) and not sink.pack and sink.record_bytes == 1000
    with pytest.raises(ValueError, match="unknown option"):
        sink_from_url("firehose://events?colour=blue")
    with pytest.raises(ValueError, match="firehose://DELIVERY_STREAM"):
        sink_from_url("firehose:///events")
    with pytest.raises(ValueError, match="record_bytes"):
        FirehoseSink("events", record_bytes=MAX_RECORD_BYTES + 1)


@pytest.mark.parametrize(
    "code", ["KMSAccessDeniedException", "ResourceNotFoundException", "KMSDisabledException"]
)
def test_injected_fatal_record_codes_fail_at_once_without_a_resend(
    delivery_stream: tuple[str, str], code: str
) -> None:
    """INJECTED: 30 % of records fail with a code no retry can fix; they come back failed."""
    stream, target = delivery_stream
    sink_client = client("firehose")
    faults = RecordFaults(sink_client, fail_ratio=0.3, error_code=code)
    events = real_events(300)
    sink = FirehoseSink(stream, client=sink_client, pack=False, retry=FAST_RETRY)
    result = sink.export(events)
    assert faults.injected_failures > 0
    assert faults.calls == 1 and faults.records_attempted == 300, "nothing was sent twice"
    assert sink.stats().get("retried_records", 0) == 0 and result.retried_events == 0
    assert (result.delivered, len(result.failed)) == (
        300 - faults.injected_failures,
        faults.injected_failures,
    )
    assert f"record rejected with {code}" in (result.error or "")
    delivered = landed(target)
    assert {json.loads(e.data)["event_id"] for e in result.failed}.isdisjoint(delivered)
    assert len(delivered) + len(result.failed) == 300
