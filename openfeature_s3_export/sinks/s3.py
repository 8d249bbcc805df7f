"""``S3Sink``: one object per batch and partition, straight to Amazon S3."""

from __future__ import annotations

import gzip
import random
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import SplitResult

from .._counters import Counters
from .._encoding import EncodedLine
from ._aws import (
    Backoff,
    ClientFactory,
    RetryPolicy,
    SinkConfigurationError,
    classify,
    describe_error,
    error_code,
)
from ._base import ExportResult
from ._partitioned import ObjectNamer, group_by_partition
from .url import boolean, parse_options

FORMATS = ("ndjson", "parquet")
SSE_MODES = ("AES256", "aws:kms", "aws:kms:dsse")


class S3Sink:
    """Writes each batch as objects under ``s3://BUCKET/PREFIX``, partitioned by event time.

    Layout, the same as :class:`~openfeature_s3_export.FileSink`::

        PREFIX/dt=YYYY-MM-DD/hour=HH/part-<utc>-<host>-<pid>-<random>-<seq>.json.gz

    ``format="ndjson"`` (gzip NDJSON, the default) or ``"parquet"`` (``[parquet]`` extra; fixed
    column types, see :func:`~openfeature_s3_export.sinks.parquet.arrow_schema`).  One object
    per batch and partition: objects roll at the pipeline's batch limits, so for fewer, larger
    objects raise ``EventExporter(flush_interval=..., max_batch_size=..., max_batch_bytes=...)``.

    Keys are unique per process and written with ``If-None-Match: *`` (``conditional_put``),
    so nothing is ever overwritten and a retry after a lost response cannot duplicate an
    object.  ``sse="AES256"`` or ``sse="aws:kms"`` (with ``kms_key_id``) requests server-side
    encryption.  Throttling (``SlowDown``), 5xx errors and connection failures are retried with
    exponential backoff and full jitter (:class:`RetryPolicy`); objects still not written then
    go back to the pipeline's failure path.

    The boto3 client follows the standard configuration (credential chain, ``AWS_REGION``,
    ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``); pass ``client=`` to use your own.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        format: str = "ndjson",
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        compresslevel: int = 3,
        parquet_compression: str = "zstd",
        sse: str | None = None,
        kms_key_id: str | None = None,
        conditional_put: bool = True,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
    ) -> None:
        if not bucket:
            raise ValueError("S3Sink needs a bucket name")
        if format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
        if sse is not None and sse not in SSE_MODES:
            raise ValueError(f"sse must be one of {', '.join(SSE_MODES)}, got {sse!r}")
        if kms_key_id and not (sse or "").startswith("aws:kms"):
            raise ValueError("kms_key_id needs sse='aws:kms' (or 'aws:kms:dsse')")
        if format == "parquet":
            from .parquet import arrow_schema

            arrow_schema()  # fail now, not on the worker, when pyarrow is missing
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.format = format
        self._compresslevel = compresslevel
        self._parquet_compression = parquet_compression
        self._extra: dict[str, str] = {}
        if sse:
            self._extra["ServerSideEncryption"] = sse
        if kms_key_id:
            self._extra["SSEKMSKeyId"] = kms_key_id
        self._conditional = conditional_put
        if format == "ndjson":
            self._suffix, self._content_type = ".json.gz", "application/gzip"
        else:
            self._suffix, self._content_type = ".parquet", "application/vnd.apache.parquet"
        self._clients = ClientFactory(
            "s3",
            client=client,
            region=region,
            endpoint_url=endpoint_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._retry = retry or RetryPolicy()
        self._names = ObjectNamer()
        self._counters = Counters()
        self._rng = random.Random()

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        """Write one object per event-time partition of *batch*; see the class documentation."""
        delivered = 0
        retried = 0
        failed: list[EncodedLine] = []
        errors: list[str] = []
        for partition, events in group_by_partition(batch).items():
            body = self._body(events)
            error, attempts = self._put(f"{self.prefix}{partition}/", body, deadline)
            retried += (attempts - 1) * len(events)
            if error is None:
                delivered += len(events)
                self._counters.add("objects")
                self._counters.add("events", len(events))
                self._counters.add("payload_bytes", sum(len(e.data) for e in events))
                self._counters.add("object_bytes", len(body))
            else:
                failed.extend(events)
                errors.append(error)
        error = "; ".join(errors) or None
        return ExportResult(delivered=delivered, failed=failed, retried=retried, error=error)

    def _body(self, events: Sequence[EncodedLine]) -> bytes:
        if self.format == "parquet":
            from .parquet import to_parquet

            return to_parquet(events, self._parquet_compression)
        return gzip.compress(b"".join(e.data for e in events), compresslevel=self._compresslevel, mtime=0)

    def _put(self, folder: str, body: bytes, deadline: float | None) -> tuple[str | None, int]:
        """Write one object, retrying; returns (error or None, attempts made)."""
        backoff = Backoff(self._retry, deadline, self._rng)
        key = folder + self._names.next_name(self._suffix)
        tries_of_key = 0
        while True:
            tries_of_key += 1
            self._counters.add("requests")
            try:
                self._clients.get().put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentType=self._content_type,
                    **({"IfNoneMatch": "*"} if self._conditional else {}),
                    **self._extra,
                )
                return None, backoff.attempt
            except Exception as exc:
                self._counters.add("failed_requests")
                if error_code(exc) in ("PreconditionFailed", "412"):
                    if tries_of_key > 1:
                        # Our earlier attempt landed but its response was lost: done.
                        return None, backoff.attempt
                    # Someone else's object has this key (should never happen): a new name.
                    key, tries_of_key = folder + self._names.next_name(self._suffix), 0
                    if not backoff.wait():
                        return describe_error(exc, f"s3://{self.bucket}/{key}"), backoff.attempt
                    continue
                kind = classify(exc)
                if kind == "throttled":
                    self._counters.add("throttled")
                error = describe_error(exc, f"s3://{self.bucket}/{key}")
                if kind == "fatal" or not backoff.wait():
                    return error, backoff.attempt
                self._counters.add("retried_objects")

    def check(self) -> None:
        """Verify that the bucket exists and is reachable with the current credentials.

        Uses ``HeadBucket``, which needs ``s3:ListBucket`` on the bucket (only for this check;
        exporting needs ``s3:PutObject`` alone).

        :raises SinkConfigurationError: with what is wrong and how to fix it.
        """
        what = f"s3 bucket {self.bucket!r}"
        try:
            self._clients.get().head_bucket(Bucket=self.bucket)
        except Exception as exc:
            if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
                message = f"{what} does not exist"
            else:
                message = describe_error(exc, what)
            raise SinkConfigurationError(f"{message} ({self._clients.describe()})") from exc

    def start(self) -> None:
        """Build the boto3 client (and load pyarrow's writers) now, before the first batch.

        The pipeline calls this on its sender thread when the exporter starts.
        """
        self._clients.get()
        if self.format == "parquet":
            from .parquet import warm_up

            warm_up()

    def stats(self) -> Mapping[str, int]:
        """Counters: objects, events, payload_bytes (NDJSON before compression), object_bytes,
        requests, failed_requests, retried_objects, throttled."""
        return self._counters.snapshot()

    def shutdown(self) -> None:
        """Nothing to release: every export finishes its objects."""

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
