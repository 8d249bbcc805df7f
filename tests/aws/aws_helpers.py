"""Helpers for the AWS tests: clients for setup and read-back, and realistic events."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import boto3
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider

from openfeature_s3_export import EncodedLine, Row, __version__
from openfeature_s3_export._encoding import encode_row
from openfeature_s3_export.testing import capture_events


def client(service: str) -> Any:
    """A plain boto3 client for setting up and reading back (honours AWS_ENDPOINT_URL)."""
    return boto3.client(service, region_name="us-east-1")  # type: ignore[call-overload]


def unique(name: str) -> str:
    """A resource name no other test uses (tests share one moto server)."""
    return f"{name}-{uuid.uuid4().hex[:10]}"


def s3_objects(bucket: str) -> dict[str, bytes]:
    """Every object in *bucket*: key -> body."""
    s3 = client("s3")
    out: dict[str, bytes] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            out[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return out


def ndjson_lines(blob: bytes) -> list[bytes]:
    """The newline-terminated records of an NDJSON object (gzip or plain)."""
    if blob[:2] == b"\x1f\x8b":
        blob = gzip.decompress(blob)
    assert blob.endswith(b"\n"), "an NDJSON object must end with a newline"
    return [line + b"\n" for line in blob.split(b"\n")[:-1]]


def kinesis_records(stream: str) -> list[dict[str, Any]]:
    """Every record in every shard, read from the beginning."""
    kinesis = client("kinesis")
    records: list[dict[str, Any]] = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10_000)
            records.extend({**record, "ShardId": shard["ShardId"]} for record in page["Records"])
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
    return records


def by_event_id(lines: list[bytes]) -> dict[str, bytes]:
    """Index NDJSON lines by event_id, failing on any duplicate."""
    out: dict[str, bytes] = {}
    for line in lines:
        event_id = json.loads(line)["event_id"]
        assert event_id not in out, f"duplicate event {event_id}"
        out[event_id] = line
    return out


def real_events(n: int) -> list[EncodedLine]:
    """*n* events made by the real pipeline: evaluations of four flag types and track events."""
    provider = InMemoryProvider(
        {
            "checkout": InMemoryFlag("on", {"on": True, "off": False}),
            "theme": InMemoryFlag("dark", {"dark": "dark", "light": "light"}),
            "limits": InMemoryFlag("big", {"big": {"max": 100, "tags": ["ü", "😀"]}, "small": {"max": 1}}),
            "ratio": InMemoryFlag("half", {"half": 0.5}),
        }
    )
    api.set_provider(provider)
    flags = api.get_client()
    with capture_events(max_batch_size=100_000) as captured:
        for i in range(n):
            context = EvaluationContext(f"user-{i % 97}", {"plan": "pro" if i % 3 else "free", "n": i})
            kind = i % 5
            if kind == 0:
                flags.get_boolean_value("checkout", False, context)
            elif kind == 1:
                flags.get_string_value("theme", "light", context)
            elif kind == 2:
                flags.get_object_value("limits", {}, context)
            elif kind == 3:
                flags.get_float_value("ratio", 0.0, context)
            else:
                captured.exporter.track("purchase", context, value=float(i), attributes={"note": "naïve ✓"})
        captured.rows()  # flushes
        events = captured.sink.lines
    assert len(events) == n
    return events


def event_at(when: datetime, i: int, *, pad: int = 0) -> EncodedLine:
    """A track event at a chosen event time (to spread events over partitions)."""
    timestamp_us = int(when.timestamp() * 1_000_000)
    event = Row(
        event_id=str(uuid.uuid4()),
        kind="track",
        timestamp=when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        provider=None,
        vendor="unknown",
        targeting_key=f"user-{i}",
        context_kind="user",
        context="{}",
        library_version=__version__,
        event_name="signup",
        attributes=json.dumps({"pad": "x" * pad}) if pad else None,
    )
    return encode_row(event, timestamp_us)


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)
