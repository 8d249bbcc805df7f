"""What the AWS sinks share: client settings, boto3 clients, error classes and retry timing.

boto3 and botocore are imported inside functions: importing the package (and building a sink)
stays cheap for applications that only write local files, and the first client is created on
the worker thread, never on the caller's.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Mapping
from typing import Any, Literal, TypedDict

import attrs

from .._version import __version__

ErrorClass = Literal["throttled", "retryable", "fatal"]

_THROTTLED = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "ServiceUnavailableException",  # Firehose: over the stream's quota
        "ServiceUnavailable",
        "ProvisionedThroughputExceededException",  # Kinesis: over the shard's quota
        "LimitExceededException",
        "KMSThrottlingException",
    }
)
_RETRYABLE = frozenset(
    {
        "InternalFailure",
        "InternalError",
        "InternalServerError",
        "ServiceFailure",
        "RequestTimeout",
        "RequestTimeoutException",
        "KMSInternalException",
    }
)

# Parts of per-record error codes that no retry can fix; matched anywhere in the code because
# services prefix them (``KMSAccessDeniedException``, ``ResourceNotFoundException``).
_FATAL_CODE_PARTS = ("AccessDenied", "NotFound", "Disabled", "InvalidState", "OptInRequired")


class SinkConfigurationError(RuntimeError):
    """A sink cannot deliver with its configuration: no such stream or bucket, no region,
    no credentials, access denied.  Raised by ``check()``; at run time the same problem is
    counted and logged, never raised into the application.

    .. versionadded:: 0.1.0
    """


_DEFAULT_BUDGET = 30.0  # seconds of retrying when neither the caller nor the policy gives a limit

TIMEOUT_STEPS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
"""Read timeouts (seconds) of the clients used when less time is left than a call may take."""

SHORTEST_CALL = 2 * TIMEOUT_STEPS[0]
"""The longest the shortest capped call may take (connect, then read, each at the first step):
no call starts with less time than this left before the deadline."""


@attrs.frozen(slots=True)
class RetryPolicy:
    """How an AWS sink retries throttled and failed records before giving a batch back.

    Exponential backoff with full jitter (a random sleep between 0 and
    ``min(max_delay, base_delay * 2**attempt)``), resending until the pipeline's export
    deadline (``export_timeout`` after the batch was handed over).  ``max_elapsed`` (seconds
    after the first send) and ``max_attempts`` (sends per record) set tighter limits when given;
    by default there are none, so an outage shorter than the export timeout loses nothing.
    Records still undelivered then go back to the pipeline's failure path.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.1.0
       ``max_attempts`` and ``max_elapsed`` default to ``None``: retry until the deadline.
    """

    max_attempts: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(1))
    )
    base_delay: float = attrs.field(default=0.05, validator=attrs.validators.ge(0))
    max_delay: float = attrs.field(default=5.0, validator=attrs.validators.ge(0))
    max_elapsed: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(0))
    )

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The sleep before retry number *attempt* (0 for the first retry)."""
        cap = min(self.max_delay, self.base_delay * (2 ** min(attempt, 62)))
        return (rng or random).uniform(0.0, cap)


class Backoff:
    """One batch's retry budget: attempts, elapsed time and the caller's deadline."""

    def __init__(self, policy: RetryPolicy, deadline: float | None, rng: random.Random) -> None:
        self._policy = policy
        now = time.monotonic()
        limits = [now + policy.max_elapsed] if policy.max_elapsed is not None else []
        if deadline is not None:
            limits.append(deadline)
        self.stop = min(limits) if limits else now + _DEFAULT_BUDGET
        """The ``time.monotonic()`` by which every call of this batch must have returned."""
        self._rng = rng
        self.attempt = 1

    def wait(self) -> bool:
        """Sleep before the next attempt; ``False`` when the budget does not allow one.

        The pause is shortened so that one call of the shortest timeout still fits before
        :attr:`stop`: a long outage ends in a last attempt, not in an early give-up.
        """
        if self._policy.max_attempts is not None and self.attempt >= self._policy.max_attempts:
            return False
        room = self.stop - time.monotonic() - SHORTEST_CALL
        if room <= 0:
            return False
        time.sleep(min(self._policy.delay(self.attempt - 1, self._rng), room))
        self.attempt += 1
        return True


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ``ClientError``, or the exception's class name."""
    response = getattr(exc, "response", None)
    if isinstance(response, Mapping):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def classify(exc: BaseException) -> ErrorClass:
    """Whether a failed AWS call is worth retrying, and whether it was throttling."""
    from botocore.exceptions import ClientError, HTTPClientError
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _THROTTLED or status == 429:
            return "throttled"
        if code in _RETRYABLE or status >= 500:
            return "retryable"
        return "fatal"
    # Connection refused/reset, DNS failure, connect/read timeouts: the request may or may not
    # have landed.  Resending may duplicate, which is why every event carries an event_id.
    if isinstance(exc, (HTTPClientError, BotoConnectionError)):
        return "retryable"
    return "fatal"


def classify_code(code: str) -> ErrorClass:
    """Whether a per-record ``ErrorCode`` (Firehose, Kinesis) is worth resending.

    Codes that name a missing, disabled or forbidden resource (``AccessDenied*``,
    ``KMSNotFoundException``, ``*Disabled*``...) fail at once: no resend can fix them.
    """
    if code in _THROTTLED:
        return "throttled"
    if any(part in code for part in _FATAL_CODE_PARTS):
        return "fatal"
    return "retryable"


def describe_error(exc: BaseException, what: str) -> str:
    """A one-line, credential-free explanation of why *what* failed, with the fix."""
    from botocore.exceptions import NoCredentialsError, NoRegionError, PartialCredentialsError

    if isinstance(exc, NoRegionError):
        return f"{what}: no AWS region configured; set AWS_REGION or pass region="
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return f"{what}: no AWS credentials found by boto3's credential chain"
    code = error_code(exc)
    if code in ("AccessDenied", "AccessDeniedException", "Forbidden", "403"):
        return f"{what}: access denied ({code}); see docs/aws.md for the IAM permissions each sink needs"
    message = str(exc).replace("\n", " ")
    return f"{what}: {code}: {message[:300]}"


@attrs.frozen(kw_only=True, slots=True)
class AwsOptions:
    """How an AWS sink reaches its service: the client settings every AWS sink takes.

    Pass one to several sinks (``S3Sink(..., aws=options)``) or use the sinks' keyword
    arguments of the same names, which override its fields.  The client follows boto3's
    standard configuration: the credential chain, ``AWS_REGION`` / ``AWS_DEFAULT_REGION``,
    ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>``.

    .. versionadded:: 0.1.0
    """

    client: Any = None
    """A boto3 client of the sink's service to use as it is; the other settings then only
    name where it points in error messages."""
    region: str | None = None
    """The region; ``None`` reads ``AWS_REGION`` / ``AWS_DEFAULT_REGION`` / the config file."""
    endpoint_url: str | None = None
    """An endpoint override; ``None`` honours ``AWS_ENDPOINT_URL(_<SERVICE>)``."""
    connect_timeout: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    """Seconds to open a connection."""
    read_timeout: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.gt(0))
    )
    """Seconds to wait for a response; ``None``: the sink's default (60 for S3, 30 otherwise)."""
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    """Backoff and budget for resending what failed."""

    @classmethod
    def build(cls, sink: str, base: AwsOptions | None, settings: AwsSettings) -> AwsOptions:
        """*base* (or the defaults) with every setting given as a keyword that is not ``None``."""
        given: dict[str, Any] = {name: value for name, value in settings.items() if value is not None}
        unknown = sorted(set(given) - set(attrs.fields_dict(cls)))
        if unknown:
            raise TypeError(f"{sink} got unexpected keyword argument(s): {', '.join(unknown)}")
        return attrs.evolve(base or cls(), **given)


class AwsSettings(TypedDict, total=False):
    """The keyword arguments of every AWS sink that fill its :class:`AwsOptions`."""

    client: Any
    region: str | None
    endpoint_url: str | None
    connect_timeout: float | None
    read_timeout: float | None
    retry: RetryPolicy | None


def _no_expect_continue(params: dict[str, Any], **kwargs: Any) -> None:
    params.get("headers", {}).pop("Expect", None)


class DeadlineReached(Exception):
    """Too little time is left before the export deadline for one more call."""


class ClientFactory:
    """Creates the boto3 clients on first use, again after ``fork()``, or returns the caller's.

    Clients follow boto3's standard configuration: the credential chain, ``AWS_REGION`` /
    ``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>``.  botocore's
    own retries are off (one attempt per call) because the sinks retry per record.

    A botocore client's timeouts are fixed when it is made, so a call that must end by a
    deadline closer than the configured timeouts allow goes through a second client whose read
    timeout is one of :data:`TIMEOUT_STEPS` (made when first needed, at most one per step):
    every call returns by the deadline, even against an endpoint that accepts connections and
    never answers.  No global state is touched.
    """

    def __init__(self, service: str, options: AwsOptions, default_read_timeout: float = 30.0) -> None:
        self.service = service
        self._options = options
        self._read_timeout = options.read_timeout or default_read_timeout
        self._lock = threading.Lock()
        self._client: Any = None
        self._capped: dict[float, Any] = {}
        self._session: Any = None
        self._pid = -1

    def get(self, deadline: float | None = None) -> Any:
        """The client for a call that must return by *deadline* (a ``time.monotonic()``).

        :raises DeadlineReached: when not even the shortest timeout fits before *deadline*.
        Raises botocore's error when a client cannot be made.
        """
        if self._options.client is not None:
            return self._options.client  # the caller's own client keeps its own timeouts
        pid = os.getpid()
        if self._client is None or self._pid != pid:
            with self._lock:
                if self._client is None or self._pid != pid:
                    self._capped, self._session = {}, None
                    self._client, self._pid = self._create(None), pid
        if deadline is None:
            return self._client
        connect = self._options.connect_timeout
        while True:
            left = deadline - time.monotonic()
            if connect + self._read_timeout <= left:
                return self._client
            step = self.step_for(left)
            if step is None:
                raise DeadlineReached(f"{left:.2f} s left before the export deadline")
            client = self._capped.get(step)
            if client is not None:
                return client
            with self._lock:
                self._capped[step] = self._create(step)
            # Making it took time: look again, with a shorter step if it no longer fits.

    def step_for(self, left: float) -> float | None:
        """The longest read timeout of :data:`TIMEOUT_STEPS` whose worst-case call (connect,
        then read) fits in *left* seconds; ``None`` when none does."""
        connect = self._options.connect_timeout
        fitting = [s for s in TIMEOUT_STEPS if min(connect, s) + s <= left]
        return fitting[-1] if fitting else None

    def _create(self, step: float | None) -> Any:
        import boto3
        from botocore.config import Config

        connect = self._options.connect_timeout
        config = Config(
            # total_max_attempts, not max_attempts: botocore reads the latter as retries, so
            # max_attempts=1 made every call two attempts (and doubled each timeout).
            retries={"mode": "standard", "total_max_attempts": 1},
            connect_timeout=connect if step is None else min(connect, step),
            read_timeout=self._read_timeout if step is None else step,
            user_agent_extra=f"openfeature-s3-export/{__version__}",
        )
        if self._session is None:
            self._session = boto3.session.Session()
        session = self._session
        # botocore reads AWS_DEFAULT_REGION and the config file but not AWS_REGION, which the
        # other AWS SDKs and Lambda use: honour both.
        region = self._options.region or session.region_name or os.environ.get("AWS_REGION") or None
        client = session.client(
            self.service,
            region_name=region,
            endpoint_url=self._options.endpoint_url,
            config=config,
        )
        # botocore sends every S3 body with "Expect: 100-continue" and, when no answer comes,
        # waits a fixed second before sending the body anyway: a delay outside both timeouts.
        # Our bodies are one batch (a few MiB at most): send them at once.  This client only.
        client.meta.events.register_last("before-call.s3", _no_expect_continue)
        return client

    def describe(self) -> str:
        """Where the client points (region and endpoint), for error messages; no secrets."""
        client = self._client or self._options.client
        if client is None:
            return f"region={self._options.region or '(from environment)'}"
        meta = client.meta
        return f"region={meta.region_name}, endpoint={meta.endpoint_url}"
