"""A Celery worker whose tasks evaluate a flag and track purchases, exported from every pool process.

Uses Kombu's filesystem broker (a folder, no server), so it runs anywhere::

    pip install "openfeature-s3-export[celery]"
    cd examples/celery_worker
    celery -A tasks worker --pool prefork --concurrency 2 --loglevel INFO
    python send.py 100        # in another shell: queues 100 page views and 100 purchases

Stop the worker with Ctrl-C or SIGTERM: each pool process flushes its events before it exits.
Events land under ``./exports`` unless ``$OPENFEATURE_S3_EXPORT_URL`` says otherwise.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from celery import Celery
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
from openfeature.track import TrackingEventDetails

from openfeature_s3_export import TrackingProvider
from openfeature_s3_export.integrations.celery import setup_celery

BROKER_DIR = Path(os.environ.get("BROKER_DIR", "./broker")).absolute()


def make_app() -> Celery:
    """The Celery app on a filesystem broker (the sender uses the same settings)."""
    for name in ("queue", "processed", "control"):
        (BROKER_DIR / name).mkdir(parents=True, exist_ok=True)
    app = Celery("tasks", broker="filesystem://")
    app.conf.broker_transport_options = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": True,
    }
    app.conf.task_ignore_result = True
    app.conf.worker_hijack_root_logger = False
    app.conf.broker_connection_retry_on_startup = True
    return app


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

app = make_app()
# Each pool process builds its own exporter at worker_process_init and flushes it at
# worker_process_shutdown: prefork children leave through os._exit(), where atexit never runs.
s3export = setup_celery(
    app,
    os.environ.get("OPENFEATURE_S3_EXPORT_URL", "file:./exports"),
    options={
        "service_name": "celery-example",
        "flush_interval": float(os.environ.get("EXPORT_FLUSH_INTERVAL", "5")),
    },
)
# Wrapping the provider records client.track() too; swap InMemoryProvider for your vendor's.
api.set_provider_and_wait(TrackingProvider(InMemoryProvider(FLAGS), s3export.exporter))
client = api.get_client()


@app.task(name="tasks.render_home")
def render_home(user_id: str, country: str) -> str:
    """Render the page for one user: the banner comes from the flag."""
    return client.get_string_value("home-banner", "Welcome", EvaluationContext(user_id, {"country": country}))


@app.task(name="tasks.purchase")
def purchase(user_id: str, value: float) -> None:
    """Record a conversion with its value."""
    client.track("purchase", EvaluationContext(user_id), TrackingEventDetails(value=value))
