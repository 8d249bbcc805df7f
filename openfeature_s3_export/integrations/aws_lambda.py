"""AWS Lambda: ``flush_after``, a handler decorator that flushes before the invocation ends.

.. code-block:: python

    from openfeature_s3_export.integrations.aws_lambda import flush_after

    exporter = EventExporter(sink_from_url("firehose://flag-events"))  # once, at cold start

    @flush_after(exporter, timeout=2.0)
    def handler(event, context):
        ...

Lambda freezes the execution environment as soon as the handler returns: the exporter's worker
thread stops mid-batch, and if the environment is then reclaimed, whatever was queued is gone.
Flushing in ``finally`` is the only point where the events are known to be handed to the sink.
No extra needed.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from ..exporter import EventExporter
from .context import RequestContext

logger = logging.getLogger("openfeature_s3_export.integrations.aws_lambda")

Handler = TypeVar("Handler", bound=Callable[..., Any])


def event_context(event: Any, request_context: RequestContext | None = None) -> Any:
    """The :class:`~openfeature.evaluation_context.EvaluationContext` of an API Gateway (REST or
    HTTP API) or function URL event: headers looked up case-insensitively, claims from a JWT or
    Lambda authorizer when the event carries them.

    .. versionadded:: 0.2.0
    """
    rc = request_context or RequestContext()
    raw = event.get("headers") if isinstance(event, dict) else None
    headers = {str(k).lower(): str(v) for k, v in (raw or {}).items()}
    authorizer = ((event.get("requestContext") or {}) if isinstance(event, dict) else {}).get(
        "authorizer"
    ) or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or authorizer.get("claims")
    return rc.build(lambda name: headers.get(name.lower()), claims if isinstance(claims, dict) else None)


def flush_budget(context: Any, timeout: float, margin: float) -> float:
    """Seconds the final flush may take: *timeout*, but never past the invocation's deadline
    less *margin* (``context.get_remaining_time_in_millis()``), and never negative."""
    budget = timeout
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        # A context object that is not Lambda's keeps the plain timeout.
        with contextlib.suppress(Exception):
            budget = min(budget, remaining() / 1000.0 - margin)
    return max(budget, 0.0)


def flush_after(
    exporter: EventExporter, *, timeout: float = 2.0, margin: float = 0.2
) -> Callable[[Handler], Handler]:
    """Decorate a Lambda handler so it flushes *exporter* in ``finally``.

    :param timeout: longest the flush may add to an invocation.
    :param margin: seconds kept free before the invocation's deadline, so a slow sink cannot
        turn a successful invocation into a timeout (which Lambda would retry, duplicating the
        work and its events).

    The flush waits at most ``min(timeout, remaining time - margin)``; what is not exported
    by then stays queued and goes out at the next invocation of this environment (counted as
    still ``queued``/``pending`` in ``exporter.stats()``), and one warning is logged.  The
    handler's own result or exception is returned or raised unchanged.

    .. versionadded:: 0.2.0
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def wrapper(event: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return handler(event, context, *args, **kwargs)
            finally:
                budget = flush_budget(context, timeout, margin)
                try:
                    complete = exporter.flush(budget)
                except Exception:  # never turn a flush problem into a failed invocation
                    logger.exception("flush after the Lambda handler failed")
                else:
                    if not complete:
                        logger.warning(
                            "flush after the Lambda handler did not complete within %.3f s; "
                            "the rest goes out with the next invocation",
                            budget,
                        )

        return wrapper  # type: ignore[return-value]

    return decorate
