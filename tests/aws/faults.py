"""INJECTED faults for the AWS tests: things moto never does on demand.

moto accepts every record (``FailedPutCount`` is always 0) and never throttles, so partial
failures and throttling are injected with botocore event handlers on the sink's own client:

- ``before-parameter-build`` takes a chosen share of the records *out* of the request, so moto
  never receives them, and remembers them;
- ``after-call`` puts them back into the parsed response as failed entries (``ErrorCode``), in
  request order, exactly where a real partial failure reports them;
- ``before-call`` can answer a whole call with a throttling error without sending it.

Everything else really goes over HTTP to the moto server on 127.0.0.1.
"""

from __future__ import annotations

import random
from typing import Any

import attrs


@attrs.define
class _FakeHttpResponse:
    status_code: int
    headers: dict[str, str] = attrs.field(factory=dict)
    raw: None = None
    content: bytes = b""
    text: str = ""


@attrs.define(slots=False)
class RecordFaults:
    """Fail a share of the records of every batch call, and throttle some whole calls.

    ``service``/``operation`` pick the call (``firehose``/``PutRecordBatch`` or
    ``kinesis``/``PutRecords``); the response keys differ per service.
    """

    client: Any
    fail_ratio: float = 0.3
    throttle_calls: int = 0
    """Answer this many of the first calls with a throttling error (nothing is sent)."""
    throttle_every: int = 0
    """After that, throttle every Nth call too (0: never)."""
    error_code: str = "ServiceUnavailableException"
    seed: int = 7
    # What happened, for the assertions:
    calls: int = 0
    throttled: int = 0
    injected_failures: int = 0
    records_sent: int = 0
    """Records that really went to moto (and landed)."""
    records_attempted: int = 0
    """Records the sink put into calls, failed ones included."""
    delivered_payloads: list[bytes] = attrs.field(factory=list)
    _rng: random.Random = attrs.field(init=False)
    _removed: list[int] = attrs.field(factory=list)
    _kept: list[Any] = attrs.field(factory=list)
    _size: int = 0

    def __attrs_post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        service = self.client.meta.service_model.service_id.hyphenize()
        operation, self._records_key = {
            "firehose": ("PutRecordBatch", "Records"),
            "kinesis": ("PutRecords", "Records"),
        }[service]
        self._service = service
        events = self.client.meta.events
        events.register(f"before-parameter-build.{service}.{operation}", self._remove_some)
        events.register(f"before-call.{service}.{operation}", self._maybe_throttle)
        events.register(f"after-call.{service}.{operation}", self._report_failures)

    def _remove_some(self, params: dict[str, Any], **_: Any) -> None:
        records = params[self._records_key]
        self.calls += 1
        self.records_attempted += len(records)
        self._size = len(records)
        failing = [i for i in range(len(records)) if self._rng.random() < self.fail_ratio]
        if len(failing) == len(records):
            failing = failing[1:]  # the API needs at least one record per call
        self._removed = failing
        removed = set(failing)
        self._kept = [r for i, r in enumerate(records) if i not in removed]
        params[self._records_key] = self._kept

    def _maybe_throttle(self, **_: Any) -> tuple[Any, dict[str, Any]] | None:
        throttle = self.calls <= self.throttle_calls or (
            self.throttle_every and self.calls % self.throttle_every == 0
        )
        if not throttle:
            return None
        self.throttled += 1
        self._removed = []
        code = "ServiceUnavailableException" if self._service == "firehose" else "LimitExceededException"
        error = {"Error": {"Code": code, "Message": "Slow down. (injected)"}}
        return _FakeHttpResponse(400), {**error, "ResponseMetadata": {"HTTPStatusCode": 400}}

    def _report_failures(self, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        if http_response.status_code >= 300:
            return
        self.records_sent += len(self._kept)
        self.delivered_payloads.extend(r["Data"] for r in self._kept)
        if not self._removed:
            return
        key = "RequestResponses" if self._service == "firehose" else "Records"
        real = iter(parsed[key])
        failed = {"ErrorCode": self.error_code, "ErrorMessage": "injected failure"}
        removed = set(self._removed)
        parsed[key] = [dict(failed) if i in removed else next(real) for i in range(self._size)]
        parsed["FailedPutCount" if self._service == "firehose" else "FailedRecordCount"] = len(removed)
        self.injected_failures += len(removed)
