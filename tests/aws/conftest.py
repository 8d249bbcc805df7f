"""A real AWS-compatible HTTP endpoint on 127.0.0.1 (moto in server mode), per test resources.

The sinks talk HTTP to moto exactly as they would to AWS: boto3 finds it through
``AWS_ENDPOINT_URL``, with the dummy credentials set by the top-level conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aws_helpers import client, unique
from moto.server import ThreadedMotoServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/aws/" in item.nodeid:
            item.add_marker(pytest.mark.aws)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """Start moto's HTTP server on a free loopback port for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point boto3's standard configuration at the moto server for one test."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def bucket(aws: str) -> str:
    name = unique("bucket")
    client("s3").create_bucket(Bucket=name)
    return name


@pytest.fixture
def delivery_stream(aws: str) -> tuple[str, str]:
    """A Direct PUT Firehose stream delivering into a fresh bucket: (stream, bucket)."""
    target = unique("firehose-target")
    client("s3").create_bucket(Bucket=target)
    stream = unique("stream")
    client("firehose").create_delivery_stream(
        DeliveryStreamName=stream,
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{target}",
            "Prefix": "events/",
        },
    )
    return stream, target


@pytest.fixture
def kinesis_stream(aws: str) -> str:
    name = unique("kinesis")
    kinesis = client("kinesis")
    kinesis.create_stream(StreamName=name, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=name, WaiterConfig={"Delay": 1})
    return name
