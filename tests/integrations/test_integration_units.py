"""The integrations' own rules: only named attributes, one hook per exporter, the extra named
when a framework is missing, never imported by the package, Lambda's flush bounded."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
from starlette.requests import Request  # module level: FastAPI resolves endpoint annotations here

from openfeature_s3_export import EncodedLine, EventExporter, ExportHook, ExportResult, InMemorySink
from openfeature_s3_export.integrations import _common
from openfeature_s3_export.integrations.aws_lambda import event_context, flush_after, flush_budget
from openfeature_s3_export.integrations.context import RequestContext


def lookup(headers: dict[str, str]) -> Any:
    lowered = {k.lower(): v for k, v in headers.items()}
    return lambda name: lowered.get(name.lower())


# --- RequestContext -------------------------------------------------------------------------


@given(st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=20), max_size=8))
def test_request_context_copies_only_what_is_named(headers: dict[str, str]) -> None:
    rc = RequestContext(user_header="X-User-Id", header_attributes={"country": "X-Country"})
    ctx = rc.build(lookup(headers))
    assert set(ctx.attributes) <= {"country"}
    lowered = {k.lower(): v for k, v in headers.items()}
    assert ctx.targeting_key == (lowered.get("x-user-id") or None)


def test_request_context_never_takes_cookies_or_ip_wholesale() -> None:
    headers = {
        "X-User-Id": "u1",
        "Cookie": "session=s3cr3t",
        "Authorization": "Bearer tok",
        "X-Forwarded-For": "203.0.113.9",
        "X-Country": "fr",
    }
    ctx = RequestContext(header_attributes={"country": "X-Country"}, static_attributes={"app": "shop"}).build(
        lookup(headers)
    )
    assert ctx.targeting_key == "u1"
    assert dict(ctx.attributes) == {"country": "fr", "app": "shop"}


def test_a_verified_claim_wins_over_a_header() -> None:
    rc = RequestContext(user_header="X-User-Id", user_claim="sub", claim_attributes={"plan": "plan"})
    ctx = rc.build(lookup({"X-User-Id": "forged"}), {"sub": "real", "plan": "pro", "email": "a@b.c"})
    assert ctx.targeting_key == "real"
    assert dict(ctx.attributes) == {"plan": "pro"}
    assert rc.build(lookup({"X-User-Id": "h"}), None).targeting_key == "h"
    assert RequestContext(anonymous_key="anon").build(lookup({})).targeting_key == "anon"


def test_request_context_settings_reject_unknown_keys() -> None:
    assert RequestContext.from_settings({"USER_HEADER": "X-Id"}).user_header == "X-Id"
    with pytest.raises(ValueError, match="copy_all_headers"):
        RequestContext.from_settings({"copy_all_headers": True})


def test_lambda_event_context_reads_jwt_claims_and_lowercased_headers() -> None:
    event = {
        "headers": {"x-user-id": "header-user", "x-country": "de", "cookie": "a=b"},
        "requestContext": {"authorizer": {"jwt": {"claims": {"sub": "claim-user"}}}},
    }
    rc = RequestContext(user_claim="sub", header_attributes={"country": "X-Country"})
    ctx = event_context(event, rc)
    assert (ctx.targeting_key, dict(ctx.attributes)) == ("claim-user", {"country": "de"})
    assert event_context({"headers": None}).targeting_key is None


# --- registration ---------------------------------------------------------------------------


@pytest.fixture
def exporter() -> Iterator[EventExporter]:
    exporter = EventExporter(InMemorySink(), register_atexit=False)
    yield exporter
    exporter.shutdown(5)


def test_install_hook_adds_one_hook_per_exporter(exporter: EventExporter) -> None:
    other = ExportHook(EventExporter(InMemorySink(), register_atexit=False))
    api.add_hooks([other])
    assert _common.install_hook(exporter)
    assert not _common.install_hook(exporter)
    assert [h.exporter for h in api.get_hooks() if isinstance(h, ExportHook)] == [other.exporter, exporter]
    api.set_provider_and_wait(InMemoryProvider({"f": InMemoryFlag("on", {"on": True})}))
    api.get_client().get_boolean_value("f", False, EvaluationContext("u"))
    assert exporter.flush(5)
    assert exporter.stats()["exported"] == 1
    assert exporter.stats()["duplicate_hook_calls"] == 0
    _common.uninstall_hook(exporter)
    assert api.get_hooks() == [other]
    other.exporter.shutdown(5)


def test_shared_exporter_is_one_per_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = tmp_path.as_uri()
    first = _common.shared_exporter(url, {"flush_interval": 1.0})
    try:
        assert _common.shared_exporter(url, {"flush_interval": 1.0}) is first
        second = _common.shared_exporter(url, {"flush_interval": 2.0})
        assert second is not first
        second.shutdown(5)
        _common.forget(second)
    finally:
        first.shutdown(5)
        _common.forget(first)
    monkeypatch.delenv("OPENFEATURE_S3_EXPORT_URL", raising=False)
    with pytest.raises(ValueError, match="OPENFEATURE_S3_EXPORT_URL"):
        _common.resolve_url(None)
    monkeypatch.setenv("OPENFEATURE_S3_EXPORT_URL", url)
    assert _common.resolve_url(None) == url


def test_flask_init_app_after_shutdown_builds_a_fresh_exporter(tmp_path: Path) -> None:
    from flask import Flask

    from openfeature_s3_export.integrations.flask import S3Export

    ext = S3Export()
    app = Flask("t")
    app.config["OPENFEATURE_S3_EXPORT_URL"] = tmp_path.as_uri()
    ext.init_app(app)
    first = ext.exporter
    ext.init_app(app)
    assert ext.exporter is first
    assert ext.shutdown(5)
    assert [h for h in api.get_hooks() if isinstance(h, ExportHook)] == []
    ext.init_app(app)
    assert ext.exporter is not first
    assert [h.exporter for h in api.get_hooks() if isinstance(h, ExportHook)] == [ext.exporter]
    assert ext.shutdown(5)


# --- optional imports -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "framework", "extra"),
    [("flask", "flask", "flask"), ("fastapi", "starlette", "fastapi"), ("celery", "celery", "celery")],
)
def test_a_missing_framework_names_the_extra(
    module: str, framework: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, framework, None)  # what `import framework` sees when absent
    monkeypatch.delitem(sys.modules, f"openfeature_s3_export.integrations.{module}", raising=False)
    with pytest.raises(ImportError, match=rf'pip install "openfeature-s3-export\[{extra}\]"'):
        importlib.import_module(f"openfeature_s3_export.integrations.{module}")


def test_a_missing_django_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "django", None)
    for name in [m for m in sys.modules if m.startswith("openfeature_s3_export.integrations.django")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=r'pip install "openfeature-s3-export\[django\]"'):
        importlib.import_module("openfeature_s3_export.integrations.django")


def test_the_package_and_the_hook_import_no_framework() -> None:
    code = (
        "import sys, json, openfeature_s3_export, openfeature_s3_export.hook;"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'fastapi', 'starlette', 'django', 'celery')"
        " or m.startswith('openfeature_s3_export.integrations'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


# --- Lambda ---------------------------------------------------------------------------------


class FakeLambdaContext:
    """The one method of Lambda's context object the decorator uses (AWS's documented interface)."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def test_flush_budget_is_bounded_by_the_remaining_time() -> None:
    assert flush_budget(FakeLambdaContext(60_000), timeout=2.0, margin=0.2) == 2.0
    assert flush_budget(FakeLambdaContext(700), timeout=2.0, margin=0.2) == pytest.approx(0.5)
    assert flush_budget(FakeLambdaContext(100), timeout=2.0, margin=0.2) == 0.0
    assert flush_budget(object(), timeout=2.0, margin=0.2) == 2.0


class BlockedSink:
    """Holds every export until released: injected slowness, which no real sink gives on demand."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.delivered = 0

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        self.entered.set()
        self.release.wait(20)  # shorter than the decorator's timeout below: a wait that ignored
        # the invocation's deadline would see this export complete
        self.delivered += len(batch)
        return ExportResult(delivered=len(batch))

    def shutdown(self) -> None:
        pass


def test_the_decorator_returns_by_the_invocation_deadline_while_the_sink_hangs() -> None:
    sink = BlockedSink()
    exporter = EventExporter(sink, flush_interval=300, register_atexit=False)

    @flush_after(exporter, timeout=60.0, margin=0.2)
    def handler(event: Any, context: Any) -> str:
        exporter.track("purchase", EvaluationContext("u"), value=1.0)
        return "result"

    # 300 ms left, 200 ms kept free: the flush may wait 100 ms, not the 60 s timeout.
    assert handler({}, FakeLambdaContext(300)) == "result"
    assert sink.entered.is_set() and sink.delivered == 0  # returned while the sink hung
    assert exporter.stats()["pending"] == 1  # not lost: still on its way
    sink.release.set()
    assert exporter.shutdown(10)
    assert sink.delivered == 1


def test_the_decorator_flushes_when_the_handler_raises() -> None:
    sink = InMemorySink()
    exporter = EventExporter(sink, flush_interval=300, register_atexit=False)

    @flush_after(exporter)
    def handler(event: Any, context: Any) -> None:
        exporter.track("purchase", EvaluationContext("u"), value=1.0)
        raise KeyError("boom")

    with pytest.raises(KeyError):
        handler({}, FakeLambdaContext(30_000))
    assert exporter.stats()["exported"] == 1
    exporter.shutdown(5)


# --- FastAPI: the event loop never does the export's I/O -----------------------------------


class ThreadRecordingSink(InMemorySink):
    """An in-memory sink that notes which threads called it."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def export(self, batch: Sequence[EncodedLine], *, deadline: float | None = None) -> ExportResult:
        self.threads.add(threading.get_ident())
        return super().export(batch, deadline=deadline)


def test_async_evaluation_leaves_the_sink_to_the_exporters_threads() -> None:
    from fastapi import Depends, FastAPI
    from fastapi.testclient import TestClient

    from openfeature_s3_export.integrations.fastapi import S3Export

    sink = ThreadRecordingSink()
    s3export = S3Export(exporter=EventExporter(sink, flush_interval=0.01, register_atexit=False))
    loop_threads: set[int] = set()
    app = FastAPI(lifespan=s3export.lifespan())
    api.set_provider_and_wait(InMemoryProvider({"f": InMemoryFlag("on", {"on": True})}))

    @app.get("/")
    async def home(ctx: EvaluationContext = Depends(s3export.context)) -> bool:  # noqa: B008
        loop_threads.add(threading.get_ident())
        return await api.get_client().get_boolean_value_async("f", False, ctx)

    with TestClient(app) as client:
        for i in range(20):
            assert client.get("/", headers={"X-User-Id": f"u{i}"}).json() is True
    assert len(sink.rows()) == 20
    assert sink.threads and loop_threads and not (sink.threads & loop_threads)


def test_the_fastapi_lifespan_wraps_the_apps_own() -> None:
    import contextlib
    from collections.abc import AsyncIterator

    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from openfeature_s3_export.integrations.fastapi import S3Export

    sink = InMemorySink()
    s3export = S3Export(exporter=EventExporter(sink, flush_interval=300, register_atexit=False))
    steps: list[str] = []

    @contextlib.asynccontextmanager
    async def own(app: FastAPI) -> AsyncIterator[dict[str, str]]:
        steps.append("own start")
        assert [h for h in api.get_hooks() if isinstance(h, ExportHook)]  # the hook is already on
        yield {"greeting": "hi"}
        # Recorded during the app's own shutdown: still exported by the final flush.
        s3export.exporter.track("shutdown", EvaluationContext("ops"))
        steps.append("own stop")

    app = FastAPI(lifespan=s3export.lifespan(own))

    @app.get("/")
    async def home(request: Request) -> str:
        return str(request.state.greeting)

    with TestClient(app) as client:
        assert client.get("/").json() == "hi"
        assert sink.rows() == []
    assert steps == ["own start", "own stop"]
    assert [r["event_name"] for r in sink.rows()] == ["shutdown"]
    assert [h for h in api.get_hooks() if isinstance(h, ExportHook)] == []
