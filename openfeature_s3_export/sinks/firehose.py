"""``FirehoseSink``: Amazon Data Firehose (Kinesis Data Firehose) ``PutRecordBatch``, packed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import SplitResult

from .._encoding import EncodedLine
from ._aws import RetryPolicy, SinkConfigurationError
from ._base import ExportResult
from ._records import Entry, Limits, RecordSink
from .url import boolean, parse_options

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

    The boto3 client follows the standard configuration (credential chain, ``AWS_REGION``,
    ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_FIREHOSE``); pass ``client=`` to use your own.
    Note that Firehose's ``!{timestamp:...}`` S3 prefixes use arrival time, not event time.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        delivery_stream: str,
        *,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        pack: bool = True,
        record_bytes: int = 256_000,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
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
            client=client,
            region=region,
            endpoint_url=endpoint_url,
            retry=retry,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            billed=billed_bytes,
        )

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        """Send *batch*, packed into records; see the class documentation for retries."""
        entries, too_large = self._records(batch)
        return self._send(entries, too_large, deadline)

    def _records(self, batch: Sequence[EncodedLine]) -> tuple[list[Entry], int]:
        entries: list[Entry] = []
        too_large = 0
        limit = self.record_bytes if self.pack else MAX_RECORD_BYTES
        parts: list[bytes] = []
        events: list[EncodedLine] = []
        size = 0
        for event in batch:
            n = len(event.data)
            if n > MAX_RECORD_BYTES:
                too_large += 1
                continue
            if events and (not self.pack or size + n > limit):
                entries.append(Entry(b"".join(parts), events))
                parts, events, size = [], [], 0
            parts.append(event.data)
            events.append(event)
            size += n
        if events:
            entries.append(Entry(b"".join(parts), events))
        return entries, too_large

    def _put(self, call: Sequence[Entry]) -> list[str | None]:
        response = self._clients.get().put_record_batch(
            DeliveryStreamName=self.delivery_stream, Records=[{"Data": entry.data} for entry in call]
        )
        if not response.get("FailedPutCount"):
            return [None] * len(call)
        return [r.get("ErrorCode") for r in response["RequestResponses"]]

    def check(self) -> None:
        """Verify that the delivery stream exists, is active and accepts Direct PUT.

        Needs ``firehose:DescribeDeliveryStream`` (only for this check).

        :raises SinkConfigurationError: with what is wrong and how to fix it.
        """
        description = self._describe("describe_delivery_stream", DeliveryStreamName=self.delivery_stream)
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
