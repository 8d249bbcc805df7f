"""Vendor normalisers: one module per flag vendor, chosen by the provider's metadata name.

Each vendor module exposes ``PROVIDER_NAMES``, ``VENDOR`` and ``normalize(raw)``.  Providers not
listed here get the generic rules, with ``vendor`` taken from :data:`KNOWN_PROVIDERS` or
``"unknown"``.  Applications can add their own with :func:`register_vendor`.
"""

from __future__ import annotations

from types import ModuleType

from . import flagd, launchdarkly, split
from ._base import Normalized, Normalizer, RawEvaluation, normalize_generic

__all__ = ["Normalized", "Normalizer", "RawEvaluation", "normalize", "register_vendor", "vendor_for"]

KNOWN_PROVIDERS: dict[str, str] = {
    "In-Memory Provider": "in-memory",
    "No-op Provider": "no-op",
    "EnvVarProvider": "env-var",
    "ConfigCatProvider": "configcat",
    "FlagsmithProvider": "flagsmith",
    "Unleash Provider": "unleash",
    "GO Feature Flag Provider": "go-feature-flag",
}
"""Provider metadata names with no vendor-specific rules, and the vendor id they map to."""

_NORMALIZERS: dict[str, Normalizer] = {}


def register_vendor(provider_name: str, normalizer: Normalizer) -> None:
    """Use *normalizer* for evaluations whose provider metadata name is *provider_name*.

    .. versionadded:: 0.1.0
    """
    _NORMALIZERS[provider_name] = normalizer


def _register_module(module: ModuleType) -> None:
    for name in module.PROVIDER_NAMES:
        register_vendor(name, module.normalize)


for _module in (launchdarkly, split, flagd):
    _register_module(_module)


def vendor_for(provider_name: str | None) -> str:
    """The normalised vendor id for a provider metadata name (``"unknown"`` when unknown)."""
    if provider_name is None:
        return "unknown"
    for module in (launchdarkly, split, flagd):
        if provider_name in module.PROVIDER_NAMES:
            return str(module.VENDOR)
    return KNOWN_PROVIDERS.get(provider_name, "unknown")


def normalize(raw: RawEvaluation) -> Normalized:
    """Apply the normaliser registered for ``raw.provider``, or the generic rules."""
    normalizer = _NORMALIZERS.get(raw.provider or "")
    if normalizer is not None:
        return normalizer(raw)
    return normalize_generic(raw, vendor_for(raw.provider))
