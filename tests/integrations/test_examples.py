"""Each example app under its framework's own test client: N requests, exactly the rows expected,
each with its request's context (user id and the one named header), and nothing else."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_helpers import EXAMPLES, check_exact, landed_rows, load_example
from openfeature import api

from openfeature_s3_export import ExportHook
from openfeature_s3_export.integrations import _common

USERS = 15
HEADERS = {"X-Country": "fr", "Cookie": "session=SECRET-COOKIE", "Authorization": "Bearer SECRET-COOKIE"}


@pytest.fixture
def export_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    directory = tmp_path / "exports"
    monkeypatch.setenv("OPENFEATURE_S3_EXPORT_URL", directory.as_uri())
    # Long enough that nothing leaves before the shutdown flush under test.
    monkeypatch.setenv("EXPORT_FLUSH_INTERVAL", "300")
    yield directory
    for exporter in list(_common._exporters.values()):
        exporter.shutdown(5)
        _common.forget(exporter)


def export_hooks() -> list[ExportHook]:
    return [h for h in api.get_hooks() if isinstance(h, ExportHook)]


def test_flask_example(export_dir: Path) -> None:
    app_module = load_example(EXAMPLES / "flask_app" / "app.py", f"flask_example_{uuid.uuid4().hex}")
    app_module.create_app()  # an app factory run twice: still one hook, nothing exported twice
    assert len(export_hooks()) == 1
    client = app_module.app.test_client()
    for i in range(USERS):
        headers = {**HEADERS, "X-User-Id": f"user-{i}"}
        assert client.get("/", headers=headers).status_code == 200
        assert client.post(f"/purchase?value={i}.5", headers=headers).status_code == 200
    assert landed_rows(export_dir) == []
    assert app_module.s3export.shutdown(10)
    check_exact(landed_rows(export_dir), USERS)


def test_fastapi_example(export_dir: Path) -> None:
    from fastapi.testclient import TestClient

    app_module = load_example(EXAMPLES / "fastapi_app" / "app.py", f"fastapi_example_{uuid.uuid4().hex}")
    with TestClient(app_module.app) as client:
        assert len(export_hooks()) == 1
        for i in range(USERS):
            headers = {**HEADERS, "X-User-Id": f"user-{i}"}
            assert client.get("/", headers=headers).status_code == 200
            assert client.post(f"/purchase?value={i}.5", headers=headers).status_code == 200
        assert landed_rows(export_dir) == []
    # Leaving the TestClient ran the lifespan's shutdown: the final flush, the hook removed.
    check_exact(landed_rows(export_dir), USERS)
    assert export_hooks() == []


def test_django_example(export_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import django
    from django.test import Client

    monkeypatch.syspath_prepend(str(EXAMPLES / "django_project"))
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "shop.settings")
    for name in [m for m in sys.modules if m == "shop" or m.startswith("shop.")]:
        monkeypatch.delitem(sys.modules, name)
    from django.conf import settings

    if settings.configured:  # django.setup() runs once per process: re-read this test's settings
        settings._wrapped = django.utils.functional.empty  # type: ignore[attr-defined]
    django.setup(set_prefix=False)
    from django.apps import apps

    for config in apps.get_app_configs():  # ready() again: this test's exporter and provider
        config.ready()
    from openfeature_s3_export.integrations.django import get_exporter

    config_exporter = get_exporter()
    assert config_exporter.sink.directory == export_dir  # type: ignore[attr-defined]
    assert len(export_hooks()) == 1
    client = Client()
    for i in range(USERS):
        headers = {"HTTP_X_USER_ID": f"user-{i}", "HTTP_X_COUNTRY": "fr", "HTTP_COOKIE": "s=SECRET-COOKIE"}
        assert client.get("/", **headers).status_code == 200  # type: ignore[arg-type]
        assert client.post(f"/purchase?value={i}.5", **headers).status_code == 200  # type: ignore[arg-type]
    assert landed_rows(export_dir) == []
    assert config_exporter.shutdown(10)
    check_exact(landed_rows(export_dir), USERS)


def test_lambda_example(export_dir: Path) -> None:
    handler = load_example(EXAMPLES / "aws_lambda" / "handler.py", f"lambda_example_{uuid.uuid4().hex}")
    for i in range(USERS):
        headers = {"x-user-id": f"user-{i}", "x-country": "fr", "cookie": "session=SECRET-COOKIE"}
        view = {"rawPath": "/", "headers": headers}
        buy = {"rawPath": "/purchase", "headers": headers, "queryStringParameters": {"value": f"{i}.5"}}
        assert handler.handler(view, handler.LocalContext())["statusCode"] == 200
        assert handler.handler(buy, handler.LocalContext())["statusCode"] == 200
        # The decorator flushed before returning: everything so far has landed.
        assert len(landed_rows(export_dir)) == 2 * (i + 1)
    check_exact(landed_rows(export_dir), USERS)
    handler.exporter.shutdown(5)


def test_quickstart_still_runs(tmp_path: Path) -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "quickstart.py")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = landed_rows(tmp_path / "exports")
    evaluations = [r for r in rows if r["kind"] == "evaluation"]
    tracks = [r for r in rows if r["kind"] == "track"]
    assert len(evaluations) == 100
    treated = sum(1 for r in evaluations if r["variant"] == "treatment")
    assert len(tracks) == treated
