"""``KinesisSink``: Amazon Kinesis Data Streams ``PutRecords``, one event per record."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import SplitResult

from .._encoding import EncodedLine
from ._aws import AwsOptions, AwsSettings, SinkConfigurationError
from ._aws_records import AwsRecord, Limits, RecordSink
from ._base import ExportResult
from .url import parse_options

if TYPE_CHECKING:
    from typing_extensions import Unpack

MAX_RECORD_BYTES = 1_048_576
"""Kinesis' per-record limit: 1 MiB of data plus partition key."""
MAX_CALL_RECORDS = 500
MAX_CALL_BYTES = 5_242_880
MAX_KEY_CHARS = 256


def partition_key(event: EncodedLine) -> str:
    """The targeting key (so one user's events stay in order on one shard), else random.

    Keys longer than Kinesis accepts (256 characters) are replaced by their SHA-256, which is
    just as stable per user.
    """
    key = event.routing_key
    if not key:
        # No user: spread evenly rather than piling every anonymous event onto one shard.
        return secrets.token_hex(8)
    if len(key) > MAX_KEY_CHARS:
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return key


class KinesisSink(RecordSink):
    """Sends events to a Kinesis data stream with ``PutRecords``, one event per record.

    The partition key is the event's targeting key, so a user's events keep their order within
    a shard.  Calls respect the service limits (500 records, 5 MiB, 1 MiB per record including
    its key); records the service reports as failed inside an HTTP 200 (``FailedRecordCount``,
    per-record ``ProvisionedThroughputExceededException`` / ``InternalFailure``) are resent,
    only those, with exponential backoff and full jitter (:class:`RetryPolicy`).  An event
    larger than one record is dropped and counted as ``record_too_large``.

    Client settings: *aws* (:class:`AwsOptions`; ``read_timeout`` 30 s by default), each
    overridden by the keyword argument of the same name.  boto3's standard configuration
    applies, including ``AWS_ENDPOINT_URL_KINESIS``.

    Counters (``stats()``): records, events, payload_bytes, requests, failed_requests,
    retried_records, throttled, record_too_large.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        stream_name: str,
        *,
        aws: AwsOptions | None = None,
        **settings: Unpack[AwsSettings],
    ) -> None:
        if not stream_name:
            raise ValueError("KinesisSink needs a stream name")
        self.stream_name = stream_name
        super().__init__(
            "kinesis",
            f"kinesis stream {stream_name!r}",
            Limits(MAX_CALL_RECORDS, MAX_CALL_BYTES),
            AwsOptions.build("KinesisSink", aws, settings),
        )

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        """Send *batch*, one record per event; see the class documentation for retries."""
        records: list[AwsRecord] = []
        too_large = 0
        for line in batch:
            record = AwsRecord(line.data, [line], partition_key(line))
            if record.size > MAX_RECORD_BYTES:
                too_large += 1
            else:
                records.append(record)
        return self._send(records, too_large, deadline)

    def _put(self, call: Sequence[AwsRecord], deadline: float | None) -> list[str | None]:
        response = self._clients.get(deadline).put_records(
            StreamName=self.stream_name,
            Records=[{"Data": record.data, "PartitionKey": record.key} for record in call],
        )
        if not response.get("FailedRecordCount"):
            return [None] * len(call)
        return [r.get("ErrorCode") for r in response["Records"]]

    def check(self) -> None:
        """Verify that the stream exists and is writable (``ACTIVE`` or ``UPDATING``).

        Needs ``kinesis:DescribeStreamSummary`` (only for this check).

        :raises SinkConfigurationError: with what is wrong and how to fix it.
        """
        summary = self._check_call("describe_stream_summary", StreamName=self.stream_name)
        status = summary["StreamDescriptionSummary"]["StreamStatus"]
        if status not in ("ACTIVE", "UPDATING"):
            raise SinkConfigurationError(f"{self._what} is {status}, not ACTIVE")

    def __repr__(self) -> str:
        return f"KinesisSink({self.stream_name!r})"


def from_url(parts: SplitResult, options: dict[str, str]) -> KinesisSink:
    """``kinesis://STREAM`` (options: ``region``, ``endpoint_url``)."""
    url = parts.geturl()
    if not parts.netloc or parts.path.strip("/"):
        raise ValueError(f"kinesis sink URL must be kinesis://STREAM_NAME, got {url!r}")
    return KinesisSink(parts.netloc, **parse_options(options, url, {"region": str, "endpoint_url": str}))
