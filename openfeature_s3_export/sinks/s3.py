"""``S3Sink``: one object per batch and partition, straight to Amazon S3."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import SplitResult

from .._encoding import EncodedLine
from ._aws import AwsOptions, AwsSettings, error_code
from ._aws_records import AwsRecord, AwsSink, Limits
from ._base import ExportResult
from ._partitioned import BodyFormat, PartitionWriter, PutOutcome
from .url import boolean, parse_options

if TYPE_CHECKING:
    from typing_extensions import Unpack

SSE_MODES = ("AES256", "aws:kms", "aws:kms:dsse")
_ONE_OBJECT_PER_CALL = Limits(max_records=1, max_call_bytes=2**63)


class S3Sink(AwsSink):
    """Writes each batch as objects under ``s3://BUCKET/PREFIX``, partitioned by event time.

    Layout, the same as :class:`~openfeature_s3_export.FileSink`::

        PREFIX/dt=YYYY-MM-DD/hour=HH/part-<utc>-<host>-<pid>-<random>-<seq>.json.gz

    ``format="ndjson"`` (gzip NDJSON, the default) or ``"parquet"`` (``[parquet]`` extra; fixed
    column types, see :func:`~openfeature_s3_export.sinks.parquet.arrow_schema`).
    ``compresslevel`` (0-9, zlib's scale, default 3) is explained in
    :class:`~openfeature_s3_export.FileSink`.  One object per batch and partition: objects
    roll at the pipeline's batch limits, so for fewer, larger objects raise
    ``EventExporter(flush_interval=..., max_batch_size=..., max_batch_bytes=...)``.

    Keys are unique per process and written with ``If-None-Match: *`` (``conditional_put``),
    so nothing is ever overwritten and a retry after a lost response cannot duplicate an
    object.  ``sse="AES256"`` or ``sse="aws:kms"`` (with ``kms_key_id``) requests server-side
    encryption.  Throttling (``SlowDown``), 5xx errors and connection failures are retried with
    exponential backoff and full jitter (:class:`RetryPolicy`); objects still not written then
    go back to the pipeline's failure path.

    Client settings: *aws* (:class:`AwsOptions`; ``read_timeout`` 60 s by default), each
    overridden by the keyword argument of the same name.  boto3's standard configuration
    applies, including ``AWS_ENDPOINT_URL_S3``.

    Counters (``stats()``): objects, events, payload_bytes (NDJSON before compression),
    object_bytes, requests, failed_requests, retried_objects, throttled.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        format: str = "ndjson",
        compresslevel: int = 3,
        parquet_compression: str = "zstd",
        sse: str | None = None,
        kms_key_id: str | None = None,
        conditional_put: bool = True,
        aws: AwsOptions | None = None,
        **settings: Unpack[AwsSettings],
    ) -> None:
        if not bucket:
            raise ValueError("S3Sink needs a bucket name")
        if sse is not None and sse not in SSE_MODES:
            raise ValueError(f"sse must be one of {', '.join(SSE_MODES)}, got {sse!r}")
        if kms_key_id and not (sse or "").startswith("aws:kms"):
            raise ValueError("kms_key_id needs sse='aws:kms' (or 'aws:kms:dsse')")
        body = BodyFormat(format, compresslevel, parquet_compression)
        options = AwsOptions.build("S3Sink", aws, settings)
        super().__init__("s3", f"s3 bucket {bucket!r}", options, default_read_timeout=60.0)
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.format = format
        self._extra: dict[str, str] = {}
        if sse:
            self._extra["ServerSideEncryption"] = sse
        if kms_key_id:
            self._extra["SSEKMSKeyId"] = kms_key_id
        if conditional_put:
            self._extra["IfNoneMatch"] = "*"
        self._writer = PartitionWriter(body, self._put_partition, self._counters)
        self._objects = self._sender(self._put_object, _ONE_OBJECT_PER_CALL, "objects")

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        """Write one object per event-time partition of *batch*; see the class documentation."""
        return self._writer.export(batch, deadline)

    def _put_partition(
        self, partition: str, body: bytes, lines: Sequence[EncodedLine], deadline: float | None
    ) -> PutOutcome:
        record = AwsRecord(body, lines, key=f"{self.prefix}{partition}/{self._writer.new_name()}")
        delivery = self._objects.send([record], deadline)
        return PutOutcome(delivery.error, delivery.retried_events, delivery.retried_requests)

    def _put_object(self, call: Sequence[AwsRecord], deadline: float | None) -> list[str | None]:
        (record,) = call
        try:
            self._clients.get(deadline).put_object(
                Bucket=self.bucket,
                Key=record.key,
                Body=record.data,
                ContentType=self._writer.body.content_type,
                **self._extra,
            )
        except Exception as exc:
            if error_code(exc) not in ("PreconditionFailed", "412"):
                raise
            self._counters.add("failed_requests")
            if record.sends > 1:
                # Our earlier attempt landed but its response was lost: done.
                return [None]
            # Someone else's object has this key (should never happen): resend under a new name.
            folder = record.key.rsplit("/", 1)[0]
            record.key, record.sends = f"{folder}/{self._writer.new_name()}", 0
            return ["PreconditionFailed"]
        return [None]

    def check(self) -> None:
        """Verify that the bucket exists and is reachable with the current credentials.

        Uses ``HeadBucket``, which needs ``s3:ListBucket`` on the bucket (only for this check;
        exporting needs ``s3:PutObject`` alone).

        :raises SinkConfigurationError: with what is wrong and how to fix it.
        """
        self._check_call("head_bucket", ("404", "NoSuchBucket", "NotFound"), Bucket=self.bucket)

    def start(self) -> None:
        """Build the boto3 client (and load pyarrow's writers) now, before the first batch.

        The pipeline calls this on its sender thread when the first event arrives.
        """
        super().start()
        self._writer.body.warm_up()

    def __repr__(self) -> str:
        return f"S3Sink('s3://{self.bucket}/{self.prefix}', format={self.format!r})"


def from_url(parts: SplitResult, options: dict[str, str]) -> S3Sink:
    """``s3://BUCKET/PREFIX`` (options: ``format``, ``region``, ``endpoint_url``, ``sse``,
    ``kms_key_id``, ``compresslevel``, ``parquet_compression``, ``conditional_put``)."""
    url = parts.geturl()
    if not parts.netloc:
        raise ValueError(f"s3 sink URL must be s3://BUCKET/PREFIX, got {url!r}")
    kwargs = parse_options(
        options,
        url,
        {
            "format": str,
            "region": str,
            "endpoint_url": str,
            "sse": str,
            "kms_key_id": str,
            "compresslevel": int,
            "parquet_compression": str,
            "conditional_put": boolean,
        },
    )
    return S3Sink(parts.netloc, parts.path, **kwargs)
