"""A FastAPI shop whose home page comes from a flag, exported with every evaluation and purchase.

Run it with uvicorn (one process, or several with ``--workers``)::

    pip install "openfeature-s3-export[fastapi]" uvicorn
    cd examples/fastapi_app && uvicorn app:app --host 127.0.0.1 --port 8000 --workers 2

    curl -H "X-User-Id: alice" -H "X-Country: fr" http://127.0.0.1:8000/
    curl -X POST -H "X-User-Id: alice" "http://127.0.0.1:8000/purchase?value=42.5"

The lifespan flushes and shuts the exporter down when uvicorn stops (uvicorn exits on SIGTERM
without running ``atexit``).  Events land under ``./exports`` unless
``$OPENFEATURE_S3_EXPORT_URL`` says otherwise.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
from openfeature.track import TrackingEventDetails

from openfeature_s3_export import TrackingProvider
from openfeature_s3_export.integrations.context import RequestContext
from openfeature_s3_export.integrations.fastapi import S3Export


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

s3export = S3Export(
    os.environ.get("OPENFEATURE_S3_EXPORT_URL", "file:./exports"),
    options={
        "service_name": "fastapi-example",
        "flush_interval": float(os.environ.get("EXPORT_FLUSH_INTERVAL", "5")),
    },
    # Only what is named here reaches the exported context: never all headers or cookies.
    request_context=RequestContext(
        user_header="X-User-Id", header_attributes={"country": "X-Country"}, anonymous_key="anonymous"
    ),
)


@asynccontextmanager
async def app_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The app's own startup: wrapping the provider records client.track() too."""
    api.set_provider_and_wait(TrackingProvider(InMemoryProvider(FLAGS), s3export.exporter))
    yield


app = FastAPI(lifespan=s3export.lifespan(app_lifespan))
client = api.get_client()
RequestCtx = Depends(s3export.context)


@app.get("/")
async def home(ctx: EvaluationContext = RequestCtx) -> dict[str, Any]:
    """The page: its banner comes from the flag (async evaluation; the hook only enqueues)."""
    banner = await client.get_string_value_async("home-banner", "Welcome", ctx)
    return {"banner": banner, "worker": os.getpid()}


@app.post("/purchase")
async def purchase(value: float = 0.0, ctx: EvaluationContext = RequestCtx) -> dict[str, Any]:
    """A conversion with its value, for the experiment's analysis."""
    client.track("purchase", ctx, TrackingEventDetails(value=value))
    return {"ok": True, "worker": os.getpid()}


@app.get("/healthz", response_class=PlainTextResponse)
async def healthz() -> str:
    """Readiness (evaluates nothing)."""
    return "ok"
