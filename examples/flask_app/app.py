"""A Flask shop whose home page comes from a flag, exported with every evaluation and purchase.

Run it under gunicorn (four workers, ``--preload``; see ``gunicorn.conf.py``)::

    pip install "openfeature-s3-export[flask]" gunicorn
    cd examples/flask_app && gunicorn -c gunicorn.conf.py app:app

    curl -H "X-User-Id: alice" -H "X-Country: fr" http://127.0.0.1:8000/
    curl -X POST -H "X-User-Id: alice" "http://127.0.0.1:8000/purchase?value=42.5"

Events land as gzip NDJSON under ``./exports`` (``$OPENFEATURE_S3_EXPORT_URL`` picks another
sink, for example ``s3://my-bucket/events``).
"""

from __future__ import annotations

import hashlib
import os

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
from openfeature.track import TrackingEventDetails

from openfeature_s3_export import TrackingProvider
from openfeature_s3_export.integrations.flask import S3Export


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

s3export = S3Export()


def create_app() -> Flask:
    """The app factory: calling it twice (tests, then the server) still registers one hook."""
    app = Flask(__name__)
    app.config["OPENFEATURE_S3_EXPORT_URL"] = os.environ.get("OPENFEATURE_S3_EXPORT_URL", "file:./exports")
    app.config["OPENFEATURE_S3_EXPORT_OPTIONS"] = {
        "service_name": "flask-example",
        "flush_interval": float(os.environ.get("EXPORT_FLUSH_INTERVAL", "5")),
    }
    # Only what is named here reaches the exported context: never all headers or cookies.
    app.config["OPENFEATURE_S3_EXPORT_CONTEXT"] = {
        "user_header": "X-User-Id",
        "header_attributes": {"country": "X-Country"},
        "anonymous_key": "anonymous",
    }
    s3export.init_app(app)
    # Wrapping the provider records client.track() too; swap InMemoryProvider for your vendor's.
    api.set_provider_and_wait(TrackingProvider(InMemoryProvider(FLAGS), s3export.exporter))
    client = api.get_client()

    @app.get("/")
    def home() -> ResponseReturnValue:
        banner = client.get_string_value("home-banner", "Welcome", s3export.context())
        return jsonify(banner=banner, worker=os.getpid())

    @app.post("/purchase")
    def purchase() -> ResponseReturnValue:
        value = float(request.args.get("value", "0"))
        client.track("purchase", s3export.context(), TrackingEventDetails(value=value))
        return jsonify(ok=True, worker=os.getpid())

    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return "ok"

    return app


app = create_app()
