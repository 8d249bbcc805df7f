"""`provision` on the moto server: create, describe and compare, idempotent; then a full export
through the stream and a `report` of what landed; `report` over s3:// in both formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_helpers import client, unique
from click.testing import CliRunner
from export_fixture import EXPECTED, fixture_rows, ndjson_files, parquet_files
from openfeature import api

from openfeature_s3_export import EventExporter, ExportHook, FirehoseSink, TrackingProvider
from openfeature_s3_export.cli import app
from openfeature_s3_export.cli.demo import _in_memory_provider, run_shop
from openfeature_s3_export.cli.provision import plan
from openfeature_s3_export.cli.report import build_report

pytestmark = pytest.mark.slow


def invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_dry_run_calls_nothing_and_prints_every_policy() -> None:
    # No AWS_ENDPOINT_URL here: any call would go to the network guard and fail.
    doc = json.loads(
        invoke(
            "provision",
            "--bucket",
            "b",
            "--stream",
            "s",
            "--dry-run",
            "--account-id",
            "1",
            "--format",
            "json",
        )
    )
    assert set(doc) == {"bucket", "role", "stream", "writer_policy"}
    assert doc["role"]["trust_policy"]["Statement"][0]["Principal"] == {"Service": "firehose.amazonaws.com"}
    processors = [p["Type"] for p in doc["stream"]["destination"]["ProcessingConfiguration"]["Processors"]]
    assert processors == ["RecordDeAggregation", "MetadataExtraction", "AppendDelimiterToRecord"]
    assert "partitionKeyFromQuery:dt" in doc["stream"]["destination"]["Prefix"]
    deny = doc["bucket"]["policy"]["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    arrival = json.loads(
        invoke(
            "provision",
            "--bucket",
            "b",
            "--stream",
            "s",
            "--dry-run",
            "--no-dynamic-partitioning",
            "--format",
            "json",
        )
    )
    assert "ProcessingConfiguration" not in arrival["stream"]["destination"]
    assert (
        arrival["stream"]["destination"]["Prefix"]
        == "flags/v1/dt=!{timestamp:yyyy-MM-dd}/hour=!{timestamp:HH}/"
    )


def test_provision_is_idempotent_and_matches_what_aws_describes(aws: str) -> None:
    bucket, stream = unique("lake"), unique("events")
    first = invoke("provision", "--bucket", bucket, "--stream", stream, "--format", "json")
    assert next(s["action"] for s in json.loads(first)["steps"]) == "created"
    wanted = plan(bucket, "flags/v1", stream, "123456789012", "us-east-1", tls_only=False)  # http endpoint

    s3 = client("s3")
    assert (
        s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        == wanted["bucket"]["public_access_block"]
    )
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=bucket)  # TLS-only would lock out this plain-http endpoint
    iam = client("iam")
    role = iam.get_role(RoleName=f"{stream}-firehose")["Role"]
    assert role["AssumeRolePolicyDocument"] == wanted["role"]["trust_policy"]
    policy = iam.get_role_policy(RoleName=f"{stream}-firehose", PolicyName="firehose-delivery")
    assert policy["PolicyDocument"] == wanted["role"]["policy"]
    described = client("firehose").describe_delivery_stream(DeliveryStreamName=stream)[
        "DeliveryStreamDescription"
    ]
    assert described["DeliveryStreamType"] == "DirectPut"
    destination = described["Destinations"][0]["ExtendedS3DestinationDescription"]
    for key, value in wanted["stream"]["destination"].items():
        assert destination[key] == value, key

    again = json.loads(invoke("provision", "--bucket", bucket, "--stream", stream, "--format", "json"))
    assert [s["action"] for s in again["steps"] if s["resource"] != f"s3://{bucket} settings"] == [
        "exists"
    ] * 3
    assert "check firehose://" in invoke("provision", "--bucket", bucket, "--stream", stream)


def test_provision_then_export_through_firehose_then_report(aws: str) -> None:
    bucket, stream = unique("lake"), unique("events")
    invoke("provision", "--bucket", bucket, "--stream", stream)
    invoke("check", f"firehose://{stream}")
    exporter = EventExporter(FirehoseSink(stream), register_atexit=False)
    provider, cleanup = _in_memory_provider()
    api.set_provider_and_wait(TrackingProvider(provider, exporter))
    api.add_hooks([ExportHook(exporter)])
    try:
        done = run_shop(api.get_client(), users=200, seed=3)
        assert exporter.shutdown(timeout=60)
    finally:
        api.clear_hooks()
        cleanup()
    assert exporter.stats()["dropped"] == 0
    doc = build_report(f"s3://{bucket}/flags/v1", "new-checkout", "purchase")
    assert sum(v["units"] for v in doc["variants"]) == done["users"] == 200
    converted = sum(v["converted_units"] for v in doc["variants"])
    assert 0 < converted <= done["purchases"]
    table = invoke("report", f"s3://{bucket}/flags/v1", "--flag", "new-checkout", "--metric", "purchase")
    assert "Sample ratio" in table


@pytest.mark.parametrize("writer", [ndjson_files, parquet_files])
def test_report_over_s3_matches_the_hand_computed_figures(
    bucket: str, writer: object, tmp_path: Path
) -> None:
    s3 = client("s3")
    for name, data in writer(*fixture_rows()).items():  # type: ignore[operator]
        s3.put_object(Bucket=bucket, Key=f"exp/v1/{name}", Body=data)
    s3.put_object(Bucket=bucket, Key="exp/v1-errors/x.json.gz", Body=b"not ours")  # a sibling prefix
    doc = build_report(f"s3://{bucket}/exp/v1", "exp", "buy")
    by_variant = {v["variant"]: v for v in doc["variants"]}
    for variant, expected in EXPECTED.items():
        for key, value in expected.items():
            assert by_variant[variant][key] == pytest.approx(value, rel=1e-5), (variant, key)


def test_report_errors_on_s3(bucket: str, aws: str) -> None:
    result = CliRunner().invoke(app, ["report", f"s3://{bucket}/nothing-here", "--flag", "x"])
    assert result.exit_code == 1 and "no objects under" in result.output
    result = CliRunner().invoke(app, ["report", "s3://no-such-bucket-here/p", "--flag", "x"])
    assert result.exit_code == 1 and "does not exist" in result.output
