"""The process's exporter and request-context settings, read from ``settings.OPENFEATURE_S3_EXPORT``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._common import require

require("django", "django")

from django.conf import settings  # noqa: E402
from django.http import HttpRequest  # noqa: E402

from ...exporter import EventExporter  # noqa: E402
from .._common import install_hook, shared_exporter  # noqa: E402
from ..context import RequestContext  # noqa: E402

_KEYS = {"URL", "OPTIONS", "CONTEXT", "CLAIMS_ATTRIBUTE"}


def _settings() -> Mapping[str, Any]:
    values: Mapping[str, Any] = getattr(settings, "OPENFEATURE_S3_EXPORT", None) or {}
    unknown = set(values) - _KEYS
    if unknown:
        raise ValueError(
            f"unknown OPENFEATURE_S3_EXPORT key(s) {sorted(unknown)}; expected some of {sorted(_KEYS)}"
        )
    return values


def setup() -> EventExporter:
    """Build (or reuse) the exporter and register its hook once; ``AppConfig.ready`` calls it."""
    values = _settings()
    exporter = shared_exporter(values.get("URL"), values.get("OPTIONS"))
    install_hook(exporter)
    return exporter


def get_exporter() -> EventExporter:
    """The exporter configured by ``settings.OPENFEATURE_S3_EXPORT`` (for ``exporter.track``).

    .. versionadded:: 0.2.0
    """
    values = _settings()
    return shared_exporter(values.get("URL"), values.get("OPTIONS"))


def request_context(request: HttpRequest) -> Any:
    """The request's :class:`~openfeature.evaluation_context.EvaluationContext`, built from the
    ``CONTEXT`` settings: the user id from one header or claim, and only the attributes named.

    .. versionadded:: 0.2.0
    """
    values = _settings()
    claims = getattr(request, values.get("CLAIMS_ATTRIBUTE", "claims"), None)
    return RequestContext.from_settings(values.get("CONTEXT")).build(request.headers.get, claims)
