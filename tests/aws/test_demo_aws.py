"""The demo ships to S3 and Firehose when AWS (here: moto on 127.0.0.1) is configured."""

from __future__ import annotations

import json

import pytest
from aws_helpers import ndjson_lines, s3_objects

from openfeature_s3_export.cli import main

pytestmark = pytest.mark.slow


def test_demo_to_s3(bucket: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--vendor", "in-memory", "--users", "40", "--sink", f"s3://{bucket}/demo"]) == 0
    rows = [json.loads(line) for body in s3_objects(bucket).values() for line in ndjson_lines(body)]
    assert {row["kind"] for row in rows} == {"evaluation", "track"}
    assert sum(row["kind"] == "evaluation" for row in rows) >= 40 * 5
    out = capsys.readouterr().out
    assert "sink counters" in out
    assert f"Next: openfeature-s3-export report s3://{bucket}/demo/ --flag new-checkout" in out


def test_demo_to_firehose(delivery_stream: tuple[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    stream, target = delivery_stream
    assert main(["demo", "--vendor", "in-memory", "--users", "40", "--sink", f"firehose://{stream}"]) == 0
    assert sum(len(ndjson_lines(body)) for body in s3_objects(target).values()) >= 40 * 5
    assert "billed bytes / payload bytes" in capsys.readouterr().out


def test_demo_explains_a_missing_bucket(aws: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--vendor", "in-memory", "--users", "5", "--sink", "s3://no-such-bucket/x"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no-such-bucket" in err and "does not exist" in err and "AWS_ENDPOINT_URL" in err
