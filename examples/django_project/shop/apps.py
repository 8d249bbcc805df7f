"""The shop app: sets the OpenFeature provider when Django starts."""

from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"

    def ready(self) -> None:
        from openfeature import api
        from openfeature.provider.in_memory_provider import InMemoryProvider

        from openfeature_s3_export import TrackingProvider
        from openfeature_s3_export.integrations.django import get_exporter

        from .flags import FLAGS

        # Wrapping the provider records client.track() too; swap InMemoryProvider for your vendor's.
        api.set_provider_and_wait(TrackingProvider(InMemoryProvider(FLAGS), get_exporter()))
