"""An AWS Lambda handler (API Gateway HTTP API or function URL) exporting its flag evaluations
and purchases, flushed before each invocation ends.

Deploy ``handler.handler`` with ``OPENFEATURE_S3_EXPORT_URL=firehose://flag-events`` (Firehose
buffers across invocations; ``s3://`` would write one small object per invocation).  Try it
locally with a fake event: ``python handler.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
from openfeature.track import TrackingEventDetails

from openfeature_s3_export import EventExporter, ExportHook, TrackingProvider, sink_from_url
from openfeature_s3_export.integrations.aws_lambda import event_context, flush_after
from openfeature_s3_export.integrations.context import RequestContext


def half_and_half(flag: InMemoryFlag[str], ctx: EvaluationContext | None) -> FlagResolutionDetails[str]:
    """A 50/50 split on the user id: a stand-in for your vendor's targeting."""
    key = (ctx.targeting_key if ctx else None) or ""
    variant = "treatment" if key and hashlib.sha256(key.encode()).digest()[0] % 2 else "control"
    return FlagResolutionDetails(flag.variants[variant], variant=variant, reason=Reason.SPLIT)


FLAGS = {
    "home-banner": InMemoryFlag(
        "control",
        {"control": "Welcome to the shop", "treatment": "Welcome! Try our one-click checkout"},
        context_evaluator=half_and_half,
    )
}

# Cold start: one exporter, one hook, for every invocation this environment serves.
exporter = EventExporter(
    sink_from_url(os.environ.get("OPENFEATURE_S3_EXPORT_URL", "file:/tmp/exports")),
    service_name="lambda-example",
    flush_interval=float(os.environ.get("EXPORT_FLUSH_INTERVAL", "5")),
)
api.set_provider_and_wait(TrackingProvider(InMemoryProvider(FLAGS), exporter))
api.add_hooks([ExportHook(exporter)])
client = api.get_client()
# The user id from a verified JWT claim when API Gateway has an authorizer, else a header.
REQUEST_CONTEXT = RequestContext(
    user_header="X-User-Id", user_claim="sub", header_attributes={"country": "X-Country"}
)


@flush_after(exporter, timeout=2.0)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """``GET /`` renders the flag's banner; ``POST /purchase?value=...`` tracks a conversion."""
    ctx = event_context(event, REQUEST_CONTEXT)
    if event.get("rawPath") == "/purchase":
        value = float((event.get("queryStringParameters") or {}).get("value", "0"))
        client.track("purchase", ctx, TrackingEventDetails(value=value))
        body: dict[str, Any] = {"ok": True}
    else:
        body = {"banner": client.get_string_value("home-banner", "Welcome", ctx)}
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


class LocalContext:
    """What Lambda passes as ``context``, as far as the decorator uses it."""

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


if __name__ == "__main__":
    for path in ("/", "/purchase"):
        event = {
            "rawPath": path,
            "headers": {"x-user-id": "alice"},
            "queryStringParameters": {"value": "42.5"},
        }
        print(handler(event, LocalContext()))
    print(dict(exporter.stats()))
