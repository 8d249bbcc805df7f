"""Django: an installable app that builds the exporter from settings, and a per-request context.

.. code-block:: python

    INSTALLED_APPS = [..., "openfeature_s3_export.integrations.django"]
    MIDDLEWARE = [..., "openfeature_s3_export.integrations.django.ContextMiddleware"]
    OPENFEATURE_S3_EXPORT = {
        "URL": "s3://my-bucket/events",        # else $OPENFEATURE_S3_EXPORT_URL
        "OPTIONS": {"service_name": "shop"},   # EventExporter keyword arguments
        "CONTEXT": {"user_header": "X-User-Id", "header_attributes": {"country": "X-Country"}},
        "CLAIMS_ATTRIBUTE": "claims",          # request attribute holding verified claims
    }

In a view: ``client.get_boolean_value("new-home", False, request.openfeature_context)``, and
:func:`get_exporter` for ``exporter.track``.  Needs the ``[django]`` extra.
"""

from __future__ import annotations

from ._state import get_exporter, request_context
from .middleware import ContextMiddleware

__all__ = ["ContextMiddleware", "get_exporter", "request_context"]
