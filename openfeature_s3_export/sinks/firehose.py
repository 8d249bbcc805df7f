"""``FirehoseSink``: Amazon Data Firehose (Kinesis Data Firehose) ``PutRecordBatch``, packed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import SplitResult

from .._encoding import EncodedLine
from ._aws import AwsOptions, AwsSettings, SinkConfigurationError
from ._aws_records import AwsRecord, Limits, RecordSink
from ._base import ExportResult
from .url import boolean, parse_options

if TYPE_CHECKING:
    from typing_extensions import Unpack

MAX_RECORD_BYTES = 1_024_000
"""Firehose's per-record limit: 1,000 KiB of data (before base64)."""
MAX_CALL_RECORDS = 500
# The API allows 4 MiB per call; the documentation does not say whether that counts raw or
# base64 bytes, so stay clearly below either reading of it.
MAX_CALL_BYTES = 4_000_000
BILLING_INCREMENT = 5_120
"""Firehose bills ingestion per record, rounded up to the next 5 KB."""


def billed_bytes(record_bytes: int) -> int:
    """What Firehose bills for one record of *record_bytes* (rounded up to 5 KB)."""
    return -(-max(record_bytes, 1) // BILLING_INCREMENT) * BILLING_INCREMENT


class FirehoseSink(RecordSink):
    """Sends events to a Firehose delivery stream (Direct PUT) with ``PutRecordBatch``.

    Events are newline-terminated JSON, so the objects Firehose writes to S3 are valid NDJSON.
    With ``pack=True`` (the default) several events share one Firehose record, up to
    ``record_bytes``: Firehose bills every record rounded up to 5 KB, so one 600-byte event per
    record costs about 8.5 times its size, while packed records cost about 1.01 times.  Turn
    packing off when the stream runs a Lambda transform or dynamic partitioning that expects
    one event per record.

    Calls respect the service limits (500 records, 4 MiB, 1,000 KiB per record).  Records that
    Firehose reports as failed (``FailedPutCount`` and a per-record ``ErrorCode`` inside an
    HTTP 200), and whole calls that are throttled or fail transiently, are resent - only those
    - with exponential backoff and full jitter, within :class:`RetryPolicy` and the pipeline's
    export deadline.  An event larger than one record is dropped and counted as
    ``record_too_large``.

    Client settings: *aws* (:class:`AwsOptions`; ``read_timeout`` 30 s by default), each
    overridden by the keyword argument of the same name.  boto3's standard configuration
    applies, including ``AWS_ENDPOINT_URL_FIREHOSE``.

    Counters (``stats()``): records, events, payload_bytes, billed_bytes, requests,
    failed_requests, retried_records, throttled, record_too_large.  Note that Firehose's
    ``!{timestamp:...}`` S3 prefixes use arrival time, not event time.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        delivery_stream: str,
        *,
        pack: bool = True,
        record_bytes: int = 256_000,
        aws: AwsOptions | None = None,
        **settings: Unpack[AwsSettings],
    ) -> None:
        if not delivery_stream:
            raise ValueError("FirehoseSink needs a delivery stream name")
        if not 0 < record_bytes <= MAX_RECORD_BYTES:
            raise ValueError(f"record_bytes must be between 1 and {MAX_RECORD_BYTES}, got {record_bytes}")
        self.delivery_stream = delivery_stream
        self.pack = pack
        self.record_bytes = record_bytes
        super().__init__(
            "firehose",
            f"firehose delivery stream {delivery_stream!r}",
            Limits(MAX_CALL_RECORDS, MAX_CALL_BYTES),
            AwsOptions.build("FirehoseSink", aws, settings),
            billed=billed_bytes,
        )

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        """Send *batch*, packed into records; see the class documentation for retries."""
        records, too_large = self._pack(batch)
        return self._send(records, too_large, deadline)

    def _pack(self, batch: Sequence[EncodedLine]) -> tuple[list[AwsRecord], int]:
        records: list[AwsRecord] = []
        too_large = 0
        limit = self.record_bytes if self.pack else MAX_RECORD_BYTES
        parts: list[bytes] = []
        lines: list[EncodedLine] = []
        size = 0
        for line in batch:
            n = len(line.data)
            if n > MAX_RECORD_BYTES:
                too_large += 1
                continue
            if lines and (not self.pack or size + n > limit):
                records.append(AwsRecord(b"".join(parts), lines))
                parts, lines, size = [], [], 0
            parts.append(line.data)
            lines.append(line)
            size += n
        if lines:
            records.append(AwsRecord(b"".join(parts), lines))
        return records, too_large

    def _put(self, call: Sequence[AwsRecord], deadline: float | None) -> list[str | None]:
        response = self._clients.get(deadline).put_record_batch(
            DeliveryStreamName=self.delivery_stream, Records=[{"Data": record.data} for record in call]
        )
        if not response.get("FailedPutCount"):
            return [None] * len(call)
        return [r.get("ErrorCode") for r in response["RequestResponses"]]

    def check(self) -> None:
        """Verify that the delivery stream exists, is active and accepts Direct PUT.

        Needs ``firehose:DescribeDeliveryStream`` (only for this check).

        :raises SinkConfigurationError: with what is wrong and how to fix it.
        """
        description = self._check_call("describe_delivery_stream", DeliveryStreamName=self.delivery_stream)
        info = description["DeliveryStreamDescription"]
        status = info.get("DeliveryStreamStatus")
        if status != "ACTIVE":
            raise SinkConfigurationError(f"{self._what} is {status}, not ACTIVE")
        if info.get("DeliveryStreamType", "DirectPut") != "DirectPut":
            raise SinkConfigurationError(
                f"{self._what} reads from {info['DeliveryStreamType']}; PutRecordBatch needs Direct PUT"
            )

    def __repr__(self) -> str:
        return f"FirehoseSink({self.delivery_stream!r})"


def from_url(parts: SplitResult, options: dict[str, str]) -> FirehoseSink:
    """``firehose://STREAM`` (options: ``region``, ``endpoint_url``, ``pack``, ``record_bytes``)."""
    url = parts.geturl()
    if not parts.netloc or parts.path.strip("/"):
        raise ValueError(f"firehose sink URL must be firehose://DELIVERY_STREAM, got {url!r}")
    kwargs = parse_options(
        options, url, {"region": str, "endpoint_url": str, "pack": boolean, "record_bytes": int}
    )
    return FirehoseSink(parts.netloc, **kwargs)
