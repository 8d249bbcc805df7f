"""The one retry loop of the AWS sinks, and the bases the AWS sinks share.

An *AWS record* is one entry of a service call: a Firehose record (one or more lines), a
Kinesis record (one line and its partition key) or an S3 object (one partition's body).
Firehose and Kinesis answer a batch call with HTTP 200 and a per-record ``ErrorCode`` for the
records they did not take; a sender that only checks the status code loses those records
silently.  :class:`RecordSender` resends exactly the records that failed, with backoff, until
they land or the retry budget runs out, whatever the service.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs

from .._counters import Counters
from .._encoding import EncodedLine
from ._aws import (
    AwsOptions,
    Backoff,
    ClientFactory,
    DeadlineReached,
    SinkConfigurationError,
    classify,
    classify_code,
    describe_error,
    error_code,
)
from ._base import BaseSink, ExportResult

DROP_RECORD_TOO_LARGE = "record_too_large"
"""Drop reason: one line is larger than the service accepts in a single AWS record."""


@attrs.define(slots=True)
class AwsRecord:
    """One entry of a service call: its bytes, the lines they carry and a routing key."""

    data: bytes
    lines: Sequence[EncodedLine]
    key: str = ""
    """The Kinesis partition key, or the S3 object key."""
    sends: int = 0
    """How many calls have carried this record so far."""

    @property
    def size(self) -> int:
        """Bytes this record counts against the per-call limit (data plus partition key)."""
        return len(self.data) + len(self.key.encode("utf-8"))


def lines_of(records: Sequence[AwsRecord]) -> list[EncodedLine]:
    """Every line *records* carry, in order."""
    return [line for record in records for line in record.lines]


@attrs.frozen(slots=True)
class Limits:
    """A call's limits: records per call and bytes per call."""

    max_records: int
    max_call_bytes: int


PutFunction = Callable[[Sequence[AwsRecord], "float | None"], list["str | None"]]
"""Sends one call that must return by a ``time.monotonic()`` deadline; returns each record's
error code (``None`` when it landed), in order."""


def chunk(records: Sequence[AwsRecord], limits: Limits) -> Iterator[list[AwsRecord]]:
    """Split *records* into calls that respect *limits* (each record fits on its own)."""
    call: list[AwsRecord] = []
    size = 0
    for record in records:
        if call and (len(call) >= limits.max_records or size + record.size > limits.max_call_bytes):
            yield call
            call, size = [], 0
        call.append(record)
        size += record.size
    if call:
        yield call


@attrs.frozen(slots=True)
class Delivery:
    """What became of the records handed to :meth:`RecordSender.send`."""

    landed: list[AwsRecord]
    failed: list[EncodedLine]
    retried_events: int
    """Lines that needed more than one send (each counted once)."""
    retried_requests: int
    """Calls that were resends."""
    error: str | None


class RecordSender:
    """Delivers records through *put*, resending only those that failed.

    Counts ``requests``, ``failed_requests`` (calls that raised), ``throttled`` (records) and
    ``retried_<noun>`` (resends) into *counters*.
    """

    def __init__(
        self, what: str, put: PutFunction, limits: Limits, options: AwsOptions, counters: Counters, noun: str
    ) -> None:
        self._what = what
        self._put = put
        self._limits = limits
        self._retry = options.retry
        self._counters = counters
        self._retried_key = f"retried_{noun}"
        self._rng = random.Random()

    def send(self, records: Sequence[AwsRecord], deadline: float | None) -> Delivery:
        """Send *records* until each landed, failed for good, or the retry budget ran out.

        Every call is made to return by the budget's end (see :class:`ClientFactory`), so this
        returns by *deadline* however the endpoint behaves.
        """
        backoff = Backoff(self._retry, deadline, self._rng)
        landed: list[AwsRecord] = []
        failed: list[EncodedLine] = []
        pending = list(records)
        resent: dict[int, AwsRecord] = {}
        resends = 0
        error: str | None = None
        while pending:
            again, error, calls = self._round(pending, landed, failed, error, backoff.stop)
            resends += calls if resent else 0
            if not again:
                break
            if not backoff.wait():
                failed.extend(lines_of(again))
                error = f"{error} (gave up retrying: export deadline or RetryPolicy limit)"
                break
            self._counters.add(self._retried_key, len(again))
            resent.update((id(record), record) for record in again)
            pending = again
        retried_events = sum(len(record.lines) for record in resent.values())
        return Delivery(landed, failed, retried_events, resends, error if failed else None)

    def _round(
        self,
        pending: list[AwsRecord],
        landed: list[AwsRecord],
        failed: list[EncodedLine],
        error: str | None,
        stop: float,
    ) -> tuple[list[AwsRecord], str | None, int]:
        """Send every pending record once; returns those worth resending, the last error and
        how many calls were made."""
        counters = self._counters
        again: list[AwsRecord] = []
        calls = list(chunk(pending, self._limits))
        for index, call in enumerate(calls):
            for record in call:
                record.sends += 1
            try:
                codes = self._put(call, stop)
            except DeadlineReached as exc:
                # No call fits before the deadline: what was not sent yet fails now.
                for record in call:
                    record.sends -= 1
                failed.extend(lines_of(again + [r for rest in calls[index:] for r in rest]))
                return [], f"{self._what}: export deadline reached ({exc})", index
            except Exception as exc:
                counters.add("requests")
                counters.add("failed_requests")
                kind = classify(exc)
                error = describe_error(exc, self._what)
                if kind == "fatal":
                    # Configuration problems (no stream, no access) fail every record now,
                    # those this round already meant to resend included.
                    failed.extend(lines_of(again + [r for rest in calls[index:] for r in rest]))
                    return [], error, index + 1
                if kind == "throttled":
                    counters.add("throttled", len(call))
                again.extend(call)
                continue
            counters.add("requests")
            if len(codes) != len(call):
                # Never guess which records landed: resend all of them (duplicates are
                # removable by event_id, lost lines are not).
                error = f"{self._what}: {len(codes)} results for {len(call)} records"
                again.extend(call)
                continue
            for record, code in zip(call, codes, strict=True):
                if code is None:
                    landed.append(record)
                    continue
                kind = classify_code(code)
                if kind == "fatal":
                    failed.extend(record.lines)
                    error = f"{self._what}: record rejected with {code}"
                    continue
                if kind == "throttled":
                    counters.add("throttled")
                again.append(record)
                error = f"{self._what}: {code}"
        return again, error, len(calls)


class AwsSink(BaseSink):
    """What every AWS sink shares: its options, the boto3 client, counters and ``check()``."""

    def __init__(
        self, service: str, what: str, options: AwsOptions, default_read_timeout: float = 30.0
    ) -> None:
        self._what = what
        self.options = options
        self._clients = ClientFactory(service, options, default_read_timeout)
        self._counters = Counters()

    def _sender(self, put: PutFunction, limits: Limits, noun: str) -> RecordSender:
        return RecordSender(self._what, put, limits, self.options, self._counters, noun)

    def _check_call(self, operation: str, missing: tuple[str, ...] = (), **params: Any) -> Any:
        """Run a describe call for ``check()``, turning any failure into a clear error."""
        try:
            return getattr(self._clients.get(), operation)(**params)
        except Exception as exc:
            if error_code(exc) in missing:
                message = f"{self._what} does not exist"
            else:
                message = describe_error(exc, self._what)
            raise SinkConfigurationError(f"{message} ({self._clients.describe()})") from exc

    def start(self) -> None:
        """Build the boto3 client now (the pipeline calls this on its sender thread)."""
        self._clients.get()

    def stats(self) -> dict[str, int]:
        """The sink's counters (listed in its class documentation and in docs/aws.md)."""
        return self._counters.snapshot()


class RecordSink(AwsSink):
    """What :class:`FirehoseSink` and :class:`KinesisSink` share: per-record sending.

    Subclasses turn a batch into AWS records and send one call (``_put``).
    """

    def __init__(
        self,
        service: str,
        what: str,
        limits: Limits,
        options: AwsOptions,
        billed: Callable[[int], int] | None = None,
    ) -> None:
        super().__init__(service, what, options)
        self._billed = billed
        self._records = self._sender(self._put, limits, "records")

    def _put(self, call: Sequence[AwsRecord], deadline: float | None) -> list[str | None]:
        raise NotImplementedError

    def _send(self, records: Sequence[AwsRecord], too_large: int, deadline: float | None) -> ExportResult:
        counters = self._counters
        counters.add(DROP_RECORD_TOO_LARGE, too_large)
        delivery = self._records.send(records, deadline)
        landed = delivery.landed
        counters.add("records", len(landed))
        delivered = sum(len(record.lines) for record in landed)
        counters.add("events", delivered)
        counters.add("payload_bytes", sum(len(record.data) for record in landed))
        if self._billed is not None:
            billed = self._billed
            counters.add("billed_bytes", sum(billed(len(record.data)) for record in landed))
        return ExportResult(
            delivered=delivered,
            failed=delivery.failed,
            dropped={DROP_RECORD_TOO_LARGE: too_large} if too_large else {},
            retried_events=delivery.retried_events,
            retried_requests=delivery.retried_requests,
            error=delivery.error,
        )
