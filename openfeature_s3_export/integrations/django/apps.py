"""The ``INSTALLED_APPS`` entry: builds the exporter when Django starts."""

from __future__ import annotations

from django.apps import AppConfig


class OpenFeatureS3ExportConfig(AppConfig):
    """Builds the exporter from ``settings.OPENFEATURE_S3_EXPORT`` and registers the hook once.

    The exporter shuts itself down (a bounded final flush) at interpreter exit, which
    gunicorn's sync and gthread workers and ``runserver`` reach on a graceful stop.

    .. versionadded:: 0.2.0
    """

    name = "openfeature_s3_export.integrations.django"
    label = "openfeature_s3_export"
    verbose_name = "OpenFeature S3 export"

    def ready(self) -> None:
        """Build the exporter and register the hook (once per process)."""
        from ._state import setup

        setup()
