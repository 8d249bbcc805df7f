"""One vendor registry: a registered provider's evaluation rows and track rows name the same vendor.

Before core v2, ``register_vendor`` filled the normaliser table while ``vendor_for`` (track rows)
read a hard-coded tuple of modules: a custom provider's evaluations said ``acme`` and its track
events ``unknown``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.provider import Metadata
from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
from openfeature.track import TrackingEventDetails

import openfeature_s3_export.vendors as vendors
from openfeature_s3_export import TrackingProvider, register_vendor
from openfeature_s3_export.testing import capture_events
from openfeature_s3_export.vendors import Normalized, RawEvaluation
from openfeature_s3_export.vendors._base import normalize_generic

FLAGS = {"checkout": InMemoryFlag("new", {"new": True, "old": False})}


class AcmeProvider(InMemoryProvider):
    """A real OpenFeature provider (the SDK's in-memory one) under a custom vendor's name."""

    def __init__(self, name: str = "AcmeProvider") -> None:
        super().__init__(FLAGS)
        self._name = name

    def get_metadata(self) -> Metadata:
        return Metadata(name=self._name)


@pytest.fixture(autouse=True)
def _restore_registry() -> Iterator[None]:
    """register_vendor changes a process-wide table: put it back as it was."""
    saved = dict(vendors._REGISTRY)
    yield
    vendors._REGISTRY.clear()
    vendors._REGISTRY.update(saved)


def acme(raw: RawEvaluation) -> Normalized:
    norm = normalize_generic(raw, "acme")
    return Normalized(
        vendor=norm.vendor,
        reason=norm.reason,
        variant=norm.variant,
        is_default_value=norm.is_default_value,
        context_kind=norm.context_kind,
        flag_metadata=norm.flag_metadata,
        vendor_details={"normalised_by": "acme"},
    )


def _rows_of_every_kind(provider_name: str) -> list[dict[str, Any]]:
    """One evaluation (ExportHook), one ``client.track`` (TrackingProvider) and one
    ``exporter.track(..., provider_name=...)`` through a provider named *provider_name*."""
    with capture_events() as captured:
        api.set_provider_and_wait(TrackingProvider(AcmeProvider(provider_name), captured.exporter))
        client = api.get_client()
        assert client.get_boolean_value("checkout", False, EvaluationContext("u1")) is True
        client.track("purchase", EvaluationContext("u1"), TrackingEventDetails(value=9.5))
        captured.exporter.track("refund", EvaluationContext("u1"), 1.0, provider_name=provider_name)
        rows = captured.rows()
    assert [(r["kind"], r["provider"]) for r in rows] == [
        ("evaluation", provider_name),
        ("track", provider_name),
        ("track", provider_name),
    ]
    return rows


def test_registered_vendor_names_evaluation_and_track_rows_alike() -> None:
    register_vendor("AcmeProvider", acme)
    rows = _rows_of_every_kind("AcmeProvider")
    assert [r["vendor"] for r in rows] == ["acme", "acme", "acme"]
    assert rows[0]["vendor_details"] == '{"normalised_by":"acme"}', "the registered normaliser ran"


def test_explicit_vendor_id_is_used_for_track_rows() -> None:
    def picky(raw: RawEvaluation) -> Normalized:
        if not raw.flag_key:  # cannot say anything about an evaluation with no flag
            raise KeyError("no flag")
        return normalize_generic(raw, "x")

    with pytest.raises(ValueError, match="pass register_vendor"):
        register_vendor("AcmeProvider", picky)  # the vendor id cannot be learned from it
    register_vendor("AcmeProvider", picky, vendor="x")
    assert [r["vendor"] for r in _rows_of_every_kind("AcmeProvider")] == ["x", "x", "x"]


def test_unregistered_provider_is_unknown_for_both_kinds() -> None:
    assert [r["vendor"] for r in _rows_of_every_kind("NobodyKnowsMe")] == ["unknown"] * 3
