"""Vendor normalisers: one module per flag vendor, chosen by the provider's metadata name.

Each vendor module exposes ``PROVIDER_NAMES``, ``VENDOR`` and ``normalize(raw)``.  Providers not
listed here get the generic rules, with ``vendor`` taken from :data:`KNOWN_PROVIDERS` or
``"unknown"``.  Applications can add their own with :func:`register_vendor`.
"""

from __future__ import annotations

from functools import partial
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

# The one registry both kinds of row read: provider metadata name -> (vendor id, normaliser).
_REGISTRY: dict[str, tuple[str, Normalizer]] = {}


def register_vendor(provider_name: str, normalizer: Normalizer, *, vendor: str | None = None) -> None:
    """Use *normalizer* for evaluations whose provider metadata name is *provider_name*.

    Track rows of that provider get the same ``vendor`` as its evaluation rows: *vendor* when
    given, else the ``vendor`` the normaliser returns for an evaluation with no details.

    .. versionadded:: 0.1.0
    """
    if vendor is None:
        probe = RawEvaluation(provider_name, "", None, None, None, None, {}, {})
        try:
            vendor = normalizer(probe).vendor
        except Exception as exc:
            raise ValueError(
                f"could not learn the vendor id of {provider_name!r} from its normaliser ({exc!r}); "
                "pass register_vendor(..., vendor='...')"
            ) from exc
    _REGISTRY[provider_name] = (vendor, normalizer)


def _register_module(module: ModuleType) -> None:
    for name in module.PROVIDER_NAMES:
        register_vendor(name, module.normalize, vendor=module.VENDOR)


for _module in (launchdarkly, split, flagd):
    _register_module(_module)
for _name, _vendor in KNOWN_PROVIDERS.items():
    register_vendor(_name, partial(normalize_generic, vendor=_vendor), vendor=_vendor)


def vendor_for(provider_name: str | None) -> str:
    """The normalised vendor id for a provider metadata name (``"unknown"`` when unknown)."""
    entry = _REGISTRY.get(provider_name or "")
    return entry[0] if entry is not None else "unknown"


def normalize(raw: RawEvaluation) -> Normalized:
    """Apply the normaliser registered for ``raw.provider``, or the generic rules."""
    entry = _REGISTRY.get(raw.provider or "")
    if entry is not None:
        return entry[1](raw)
    return normalize_generic(raw, "unknown")
