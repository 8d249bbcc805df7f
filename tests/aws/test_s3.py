"""S3Sink against moto's S3 over HTTP on 127.0.0.1: NDJSON.gz and Parquet, read back."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
from aws_helpers import by_event_id, client, event_at, ndjson_lines, real_events, s3_objects

from openfeature_s3_export import (
    COLUMNS,
    EventExporter,
    RetryPolicy,
    S3Sink,
    SinkConfigurationError,
    sink_from_url,
)
from openfeature_s3_export.sinks.parquet import arrow_schema

FAST_RETRY = RetryPolicy(max_attempts=10, base_delay=0.001, max_delay=0.01)
KEY = re.compile(
    r"^exports/v1/dt=\d{4}-\d{2}-\d{2}/hour=\d{2}/part-\d{8}T\d{6}Z-[\w-]+-\d+-[0-9a-f]{8}-\d{6}\.(json\.gz|parquet)$"
)


def test_ndjson_round_trip_every_event_once_unaltered(bucket: str) -> None:
    events = real_events(1500)
    sink = S3Sink(bucket, "exports/v1/")
    result = sink.export(events)
    assert (result.delivered, list(result.failed)) == (1500, [])
    objects = s3_objects(bucket)
    assert all(KEY.match(key) for key in objects), list(objects)
    got = by_event_id([line for blob in objects.values() for line in ndjson_lines(blob)])
    assert got == {json.loads(e.data)["event_id"]: e.data for e in events}
    head = client("s3").head_object(Bucket=bucket, Key=next(iter(objects)))
    assert head["ContentType"] == "application/gzip"
    assert sink.stats()["objects"] == len(objects) and sink.stats()["events"] == 1500


def test_event_time_partitions(bucket: str) -> None:
    base = datetime(2026, 11, 23, 22, 59, 59, tzinfo=timezone.utc)
    events = [event_at(base + timedelta(minutes=30 * i), i) for i in range(6)]
    S3Sink(bucket, "p").export(events)
    folders = sorted({key.rsplit("/", 1)[0] for key in s3_objects(bucket)})
    assert folders == [
        "p/dt=2026-11-23/hour=22",
        "p/dt=2026-11-23/hour=23",
        "p/dt=2026-11-24/hour=00",
        "p/dt=2026-11-24/hour=01",
    ]


def download(bucket: str, into: Path) -> None:
    for key, body in s3_objects(bucket).items():
        path = into / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)


def test_parquet_round_trip_with_pyarrow_and_duckdb(bucket: str, tmp_path: Path) -> None:
    events = real_events(800)
    events += [event_at(datetime(2026, 1, 2, 3, tzinfo=timezone.utc), i) for i in range(5)]
    sink = sink_from_url(f"s3://{bucket}/exports/v1?format=parquet")
    assert sink.export(events).delivered == 805
    objects = s3_objects(bucket)
    assert objects and all(KEY.match(key) and key.endswith(".parquet") for key in objects)
    expected = {json.loads(e.data)["event_id"]: json.loads(e.data) for e in events}

    # pyarrow: the fixed schema, and every row equal to the JSON row (timestamp as a real type).
    rows: dict[str, dict[str, Any]] = {}
    for body in objects.values():
        table = pq.read_table(io.BytesIO(body))
        assert table.schema.equals(arrow_schema(), check_metadata=False)
        assert table.column_names == list(COLUMNS)
        for row in table.to_pylist():
            assert row["event_id"] not in rows
            rows[row["event_id"]] = row
    assert rows.keys() == expected.keys()
    for event_id, row in rows.items():
        want = expected[event_id]
        assert row["timestamp"].strftime("%Y-%m-%dT%H:%M:%S.%fZ") == want["timestamp"]
        assert {k: v for k, v in row.items() if k != "timestamp"} == {
            k: v for k, v in want.items() if k != "timestamp"
        }

    # DuckDB: the downloaded tree, hive partitions included, unmodified.
    download(bucket, tmp_path)
    con = duckdb.connect()
    glob = f"{tmp_path}/exports/v1/**/*.parquet"
    total, ids, kinds = con.execute(
        f"SELECT count(*), count(DISTINCT event_id), count(DISTINCT kind) "
        f"FROM read_parquet('{glob}', hive_partitioning = true)"
    ).fetchone()  # type: ignore[misc]
    assert (total, ids, kinds) == (805, 805, 2)
    hours = con.execute(
        f"SELECT dt, hour, count(*) FROM read_parquet('{glob}', hive_partitioning = true) "
        "WHERE dt = '2026-01-02' GROUP BY ALL"
    ).fetchall()
    assert [(str(dt), int(hour), n) for dt, hour, n in hours] == [("2026-01-02", 3, 5)]
    value = con.execute(
        f"SELECT json_extract(value, '$.max') FROM read_parquet('{glob}') WHERE flag_key = 'limits' LIMIT 1"
    ).fetchone()
    assert value is not None and json.loads(value[0]) == 100


def test_server_side_encryption(bucket: str) -> None:
    S3Sink(bucket, sse="AES256").export([event_at(datetime.now(timezone.utc), 1)])
    (key,) = s3_objects(bucket)
    assert client("s3").head_object(Bucket=bucket, Key=key)["ServerSideEncryption"] == "AES256"

    other = client("s3")
    other.create_bucket(Bucket=bucket + "-kms")
    S3Sink(bucket + "-kms", sse="aws:kms", kms_key_id="alias/events").export(
        [event_at(datetime.now(timezone.utc), 2)]
    )
    (key,) = s3_objects(bucket + "-kms")
    head = client("s3").head_object(Bucket=bucket + "-kms", Key=key)
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"].endswith("alias/events")
    with pytest.raises(ValueError, match="kms_key_id needs"):
        S3Sink(bucket, kms_key_id="k")


def test_injected_throttling_then_success(bucket: str) -> None:
    """INJECTED: the first three PutObject calls answer 503 SlowDown without being sent."""
    sink_client = client("s3")
    throttled: list[int] = []

    class Http:
        status_code = 503
        headers: dict[str, str] = {}

    def slow_down(**_: Any) -> Any:
        if len(throttled) < 3:
            throttled.append(1)
            error = {"Error": {"Code": "SlowDown", "Message": "injected"}}
            return Http(), {**error, "ResponseMetadata": {"HTTPStatusCode": 503}}
        return None

    sink_client.meta.events.register("before-call.s3.PutObject", slow_down)
    sink = S3Sink(bucket, client=sink_client, retry=FAST_RETRY)
    events = real_events(100)
    result = sink.export(events)
    assert result.delivered == 100 and (result.retried_events, result.retried_requests) == (100, 3)
    assert sink.stats()["throttled"] == 3 and sink.stats()["retried_objects"] == 3
    assert len(by_event_id([line for b in s3_objects(bucket).values() for line in ndjson_lines(b)])) == 100


def test_injected_lost_response_does_not_duplicate(bucket: str) -> None:
    """INJECTED: the first PutObject lands but its response is replaced by a 500.

    The retry uses the same key with If-None-Match: *, gets 412 and knows the object is there.
    """
    sink_client = client("s3")
    lost: list[int] = []

    def lose_response(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if not lost and http_response.status_code == 200:
            lost.append(1)
            http_response.status_code = 500
            parsed["Error"] = {"Code": "InternalError", "Message": "injected lost response"}

    sink_client.meta.events.register("after-call.s3.PutObject", lose_response)
    sink = S3Sink(bucket, client=sink_client, retry=FAST_RETRY)
    assert sink.export(real_events(10)).delivered == 10
    assert len(s3_objects(bucket)) == 1
    # Both calls "failed": the injected 500, then the 412 that proves the object is there.
    assert sink.stats()["requests"] == sink.stats()["failed_requests"] == 2


def test_missing_bucket(aws: str) -> None:
    with pytest.raises(SinkConfigurationError, match="does not exist"):
        S3Sink("no-such-bucket").check()
    exporter = EventExporter(S3Sink("no-such-bucket", retry=FAST_RETRY), register_atexit=False)
    exporter.track("x")
    assert not exporter.shutdown(timeout=20) or exporter.stats()["dropped.export_failed"] == 1
    assert exporter.stats()["dropped.export_failed"] == 1


def test_check_passes_for_a_bucket(bucket: str) -> None:
    S3Sink(bucket).check()


def test_pipeline_to_s3_from_url(bucket: str) -> None:
    exporter = EventExporter(sink_from_url(f"s3://{bucket}/events"), register_atexit=False)
    for i in range(250):
        exporter.track("purchase", value=float(i))
    assert exporter.shutdown(timeout=20)
    lines = [line for body in s3_objects(bucket).values() for line in ndjson_lines(body)]
    assert sorted(json.loads(line)["metric_value"] for line in lines) == [float(i) for i in range(250)]


def test_url_validation() -> None:
    with pytest.raises(ValueError, match="format must be"):
        sink_from_url("s3://b/p?format=csv")
    with pytest.raises(ValueError, match="unknown option"):
        sink_from_url("s3://b/p?colour=blue")
    with pytest.raises(ValueError, match="s3://BUCKET"):
        sink_from_url("s3:///p")
    sink = sink_from_url("s3://b/a/b/?sse=AES256&conditional_put=false")
    assert isinstance(sink, S3Sink) and sink.prefix == "a/b/"
