"""Sending records in batched calls with per-record retry (Firehose, Kinesis Data Streams).

Both services answer a batch call with HTTP 200 and a per-record ``ErrorCode`` for the records
they did not take.  A sender that only checks the status code loses those records silently;
this one resends exactly them, with backoff, until they land or the retry budget runs out.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from .._counters import Counters
from .._encoding import EncodedLine
from ._aws import (
    Backoff,
    ClientFactory,
    RetryPolicy,
    SinkConfigurationError,
    classify,
    code_is_throttle,
    describe_error,
)
from ._base import ExportResult

DROP_RECORD_TOO_LARGE = "record_too_large"
"""Drop reason: one event is larger than the service accepts in a single record."""

# Per-record codes that no retry can fix (the key or stream is gone or forbidden).
_FATAL_RECORD_CODES = ("AccessDenied", "NotFound", "Disabled", "InvalidState", "OptInRequired")


@attrs.define(slots=True)
class Entry:
    """One service record: one or more newline-terminated events (and a Kinesis key)."""

    data: bytes
    events: list[EncodedLine]
    key: str = ""

    @property
    def size(self) -> int:
        """Bytes this record counts against the per-call limit (data plus partition key)."""
        return len(self.data) + len(self.key.encode("utf-8"))


@attrs.frozen(slots=True)
class Limits:
    """A batch call's limits: records per call and bytes per call."""

    max_records: int
    max_call_bytes: int


PutFunction = Callable[[Sequence[Entry]], list[str | None]]
"""Sends one call; returns each record's error code (``None`` when it landed), in order."""


def chunk(entries: Sequence[Entry], limits: Limits) -> Iterator[list[Entry]]:
    """Split *entries* into calls that respect *limits* (each entry fits on its own)."""
    call: list[Entry] = []
    size = 0
    for entry in entries:
        if call and (len(call) >= limits.max_records or size + entry.size > limits.max_call_bytes):
            yield call
            call, size = [], 0
        call.append(entry)
        size += entry.size
    if call:
        yield call


class RecordSender:
    """Delivers entries through *put*, retrying only the records that failed."""

    def __init__(
        self,
        what: str,
        put: PutFunction,
        limits: Limits,
        retry: RetryPolicy,
        counters: Counters,
        billed: Callable[[int], int] | None = None,
    ) -> None:
        self._what = what
        self._put = put
        self._limits = limits
        self._retry = retry
        self._counters = counters
        self._billed = billed
        self._rng = random.Random()

    def send(self, entries: Sequence[Entry], deadline: float | None, dropped: dict[str, int]) -> ExportResult:
        """Send *entries*; undelivered ones come back in ``failed`` with the last error."""
        counters = self._counters
        backoff = Backoff(self._retry, deadline, self._rng)
        pending = list(entries)
        failed: list[EncodedLine] = []
        retried_events = 0
        landed: list[Entry] = []
        error: str | None = None
        while pending:
            again: list[Entry] = []
            calls = list(chunk(pending, self._limits))
            for index, call in enumerate(calls):
                counters.add("requests")
                try:
                    codes = self._put(call)
                except Exception as exc:
                    counters.add("failed_requests")
                    kind = classify(exc)
                    error = describe_error(exc, self._what)
                    if kind == "fatal":
                        # Configuration problems (no stream, no access) fail every record now.
                        for lost in calls[index:]:
                            failed.extend(e for entry in lost for e in entry.events)
                        again = []
                        break
                    if kind == "throttled":
                        counters.add("throttled", len(call))
                    again.extend(call)
                    continue
                if len(codes) != len(call):
                    # Never guess which records landed: resend all of them (duplicates are
                    # removable by event_id, lost records are not).
                    error = f"{self._what}: {len(codes)} results for {len(call)} records"
                    again.extend(call)
                    continue
                for entry, code in zip(call, codes, strict=True):
                    if code is None:
                        landed.append(entry)
                    elif code.startswith(_FATAL_RECORD_CODES):
                        failed.extend(entry.events)
                        error = f"{self._what}: record rejected with {code}"
                    else:
                        if code_is_throttle(code):
                            counters.add("throttled")
                        again.append(entry)
                        error = f"{self._what}: {code}"
            if not again:
                break
            if not backoff.wait():
                failed.extend(e for entry in again for e in entry.events)
                break
            counters.add("retried_records", len(again))
            retried_events += sum(len(entry.events) for entry in again)
            pending = again
        self._count_delivered(landed)
        return ExportResult(
            delivered=sum(len(entry.events) for entry in landed),
            failed=failed,
            dropped=dropped,
            retried=retried_events,
            error=error if failed else None,
        )

    def _count_delivered(self, landed: Sequence[Entry]) -> None:
        counters = self._counters
        counters.add("records", len(landed))
        counters.add("events", sum(len(entry.events) for entry in landed))
        counters.add("payload_bytes", sum(len(entry.data) for entry in landed))
        if self._billed is not None:
            billed = self._billed
            counters.add("billed_bytes", sum(billed(len(entry.data)) for entry in landed))


class RecordSink:
    """What :class:`FirehoseSink` and :class:`KinesisSink` share: the client, the counters and
    per-record sending.  Subclasses turn a batch into entries and send one call (``_put``)."""

    def __init__(
        self,
        service: str,
        what: str,
        limits: Limits,
        *,
        client: Any,
        region: str | None,
        endpoint_url: str | None,
        retry: RetryPolicy | None,
        connect_timeout: float,
        read_timeout: float,
        billed: Callable[[int], int] | None = None,
    ) -> None:
        self._what = what
        self._clients = ClientFactory(
            service,
            client=client,
            region=region,
            endpoint_url=endpoint_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        self._counters = Counters()
        self._sender = RecordSender(what, self._put, limits, retry or RetryPolicy(), self._counters, billed)

    def _put(self, call: Sequence[Entry]) -> list[str | None]:
        raise NotImplementedError

    def _send(self, entries: Sequence[Entry], too_large: int, deadline: float | None) -> ExportResult:
        self._counters.add(DROP_RECORD_TOO_LARGE, too_large)
        dropped = {DROP_RECORD_TOO_LARGE: too_large} if too_large else {}
        return self._sender.send(entries, deadline, dropped)

    def _describe(self, operation: str, **params: Any) -> Any:
        """Run a describe call for ``check()``, turning any failure into a clear error."""
        try:
            return getattr(self._clients.get(), operation)(**params)
        except Exception as exc:
            message = describe_error(exc, self._what)
            raise SinkConfigurationError(f"{message} ({self._clients.describe()})") from exc

    def start(self) -> None:
        """Build the boto3 client now (the pipeline calls this on its sender thread)."""
        self._clients.get()

    def stats(self) -> Mapping[str, int]:
        """Counters: records, events, payload_bytes, requests, failed_requests, retried_records,
        throttled, record_too_large (and billed_bytes for Firehose)."""
        return self._counters.snapshot()

    def shutdown(self) -> None:
        """Nothing to release: boto3 clients close their connections when collected."""
