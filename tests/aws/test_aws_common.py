"""Retry timing, error classes and client configuration shared by the AWS sinks."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Sequence
from datetime import datetime, timezone

import pytest
from aws_helpers import event_at

from openfeature_s3_export import FirehoseSink, KinesisSink, RetryPolicy, S3Sink
from openfeature_s3_export._counters import Counters
from openfeature_s3_export.sinks import AwsOptions
from openfeature_s3_export.sinks._aws import Backoff, classify, classify_code
from openfeature_s3_export.sinks._aws_records import AwsRecord, Limits, RecordSender


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_full_jitter_stays_under_the_exponential_cap() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    rng = random.Random(1)
    for attempt, cap in [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (60, 1.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap * 0.8, "full jitter uses the whole range"


def test_backoff_respects_attempts_and_deadline() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0)
    backoff = Backoff(policy, None, random.Random())
    assert backoff.wait() and backoff.wait() and not backoff.wait()
    expired = Backoff(RetryPolicy(base_delay=0.01), time.monotonic() - 1, random.Random())
    assert not expired.wait(), "no retry once the pipeline's deadline has passed"
    short = Backoff(RetryPolicy(max_elapsed=0.0, base_delay=0.01), None, random.Random())
    assert not short.wait()


def test_connection_refused_is_retried_then_given_back(aws: str) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    retry = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002)
    batch = [event_at(datetime.now(timezone.utc), i) for i in range(5)]
    for sink in (
        FirehoseSink("s", endpoint_url=endpoint, retry=retry),
        KinesisSink("s", endpoint_url=endpoint, retry=retry),
        S3Sink("b", endpoint_url=endpoint, retry=retry),
    ):
        result = sink.export(batch)
        assert result.delivered == 0 and list(result.failed) == batch, sink
        assert "EndpointConnectionError" in (result.error or ""), result.error
        assert sink.stats()["requests"] == 3


def test_error_classes() -> None:
    from botocore.exceptions import ClientError, EndpointConnectionError, NoRegionError

    def client_error(code: str, status: int) -> ClientError:
        return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")

    assert classify(client_error("ServiceUnavailableException", 400)) == "throttled"
    assert classify(client_error("SlowDown", 503)) == "throttled"
    assert classify(client_error("Whatever", 429)) == "throttled"
    assert classify(client_error("InternalFailure", 500)) == "retryable"
    assert classify(client_error("Weird", 502)) == "retryable"
    assert classify(EndpointConnectionError(endpoint_url="http://127.0.0.1:1")) == "retryable"
    assert classify(client_error("ResourceNotFoundException", 400)) == "fatal"
    assert classify(client_error("AccessDeniedException", 403)) == "fatal"
    assert classify(NoRegionError()) == "fatal"
    assert classify(ValueError("bug")) == "fatal"
    assert classify_code("ProvisionedThroughputExceededException") == "throttled"
    assert classify_code("KMSThrottlingException") == "throttled"
    assert classify_code("InternalFailure") == "retryable"
    for fatal in ("AccessDeniedException", "KMSAccessDeniedException", "ResourceNotFoundException"):
        assert classify_code(fatal) == "fatal", fatal


def test_sink_builds_its_client_lazily_and_again_after_fork(aws: str) -> None:
    sink = FirehoseSink("s")
    factory = sink._clients
    assert factory._client is None, "no boto3 work at construction (it may be on a request thread)"
    first = factory.get()
    assert factory.get() is first
    factory._pid = -1  # what a forked child sees: the parent's pid
    assert factory.get() is not first


def test_callers_own_client_is_used(aws: str) -> None:
    import boto3

    mine = boto3.client("firehose", region_name="eu-west-1")
    assert FirehoseSink("s", client=mine)._clients.get() is mine


@pytest.mark.parametrize("bad", [0, -1])
def test_retry_policy_validation(bad: int) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=bad)


def test_region_from_aws_region_or_aws_default_region(aws: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    assert FirehoseSink("s")._clients.get().meta.region_name == "eu-west-3"
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert KinesisSink("s")._clients.get().meta.region_name == "ap-south-1"
    assert KinesisSink("s", region="us-west-2")._clients.get().meta.region_name == "us-west-2"


def test_a_fatal_call_fails_the_records_the_round_meant_to_resend() -> None:
    """STUB: a call whose record is throttled, then a call that is denied, in one round.

    No server produces that sequence on demand; the sender must account for every line (the
    throttled record fails with the rest, it is not forgotten).
    """
    from botocore.exceptions import ClientError

    def put(call: Sequence[AwsRecord], deadline: float | None) -> list[str | None]:
        if call[0].key == "first":
            return ["ProvisionedThroughputExceededException"]
        error = {"Error": {"Code": "AccessDeniedException"}, "ResponseMetadata": {"HTTPStatusCode": 400}}
        raise ClientError(error, "PutRecords")  # type: ignore[arg-type]

    now = datetime.now(timezone.utc)
    lines = [event_at(now, i) for i in range(3)]
    records = [AwsRecord(lines[0].data, lines[:1], "first"), AwsRecord(b"", lines[1:], "second")]
    sender = RecordSender("stream", put, Limits(1, 10**9), AwsOptions(), Counters(), "records")
    delivery = sender.send(records, None)
    assert (delivery.landed, delivery.failed, delivery.retried_events) == ([], lines, 0)
    assert "access denied" in (delivery.error or "")


def test_options_object_shared_and_overridden_by_keywords(aws: str) -> None:
    shared = AwsOptions(region="eu-west-1", connect_timeout=2.0, retry=RetryPolicy(max_attempts=2))
    s3 = S3Sink("b", aws=shared, region="us-west-2")
    kinesis = KinesisSink("s", aws=shared)
    firehose = FirehoseSink("s", aws=AwsOptions(read_timeout=7.0), retry=RetryPolicy(max_attempts=4))
    assert s3.options.retry.max_attempts == kinesis.options.retry.max_attempts == 2
    assert firehose.options.retry.max_attempts == 4
    configs = [sink._clients.get().meta for sink in (s3, kinesis, firehose)]
    assert [meta.region_name for meta in configs[:2]] == ["us-west-2", "eu-west-1"]
    assert [meta.config.connect_timeout for meta in configs] == [2.0, 2.0, 5.0]
    assert [meta.config.read_timeout for meta in configs] == [60.0, 30.0, 7.0]
    with pytest.raises(TypeError, match=r"KinesisSink got unexpected keyword argument.*regoin"):
        KinesisSink("s", regoin="eu-west-1")  # type: ignore[call-arg]
