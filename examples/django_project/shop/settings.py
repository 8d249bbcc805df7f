"""Settings of the example project: no database, one app, the export app and its middleware."""

from __future__ import annotations

import os

SECRET_KEY = "example-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "shop.urls"
WSGI_APPLICATION = "shop.wsgi.application"
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

INSTALLED_APPS = [
    "openfeature_s3_export.integrations.django",  # builds the exporter, registers the hook once
    "shop.apps.ShopConfig",
]
MIDDLEWARE = [
    "openfeature_s3_export.integrations.django.ContextMiddleware",  # request.openfeature_context
]

OPENFEATURE_S3_EXPORT = {
    "URL": os.environ.get("OPENFEATURE_S3_EXPORT_URL", "file:./exports"),
    "OPTIONS": {
        "service_name": "django-example",
        "flush_interval": float(os.environ.get("EXPORT_FLUSH_INTERVAL", "5")),
    },
    # Only what is named here reaches the exported context: never all headers or cookies.
    "CONTEXT": {
        "user_header": "X-User-Id",
        "header_attributes": {"country": "X-Country"},
        "anonymous_key": "anonymous",
    },
}
