"""What a vendor normaliser receives and returns, and the rules every vendor shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

OPENFEATURE_REASONS: Final = frozenset(
    {"CACHED", "DEFAULT", "DISABLED", "ERROR", "SPLIT", "STATIC", "STALE", "TARGETING_MATCH", "UNKNOWN"}
)


@attrs.frozen(slots=True)
class RawEvaluation:
    """An evaluation as OpenFeature reported it, before any vendor-specific interpretation.

    ``reason`` and ``error_code`` are already plain strings (providers pass both ``Reason``
    members and free strings such as LaunchDarkly's ``"FALLTHROUGH"``).

    .. versionadded:: 0.1.0
    """

    provider: str | None
    flag_key: str
    flag_type: str | None
    variant: str | None
    reason: str | None
    error_code: str | None
    flag_metadata: Mapping[str, Any]
    attributes: Mapping[str, Any]


@attrs.frozen(slots=True)
class Normalized:
    """The vendor-independent reading of one evaluation.

    .. versionadded:: 0.1.0
    """

    vendor: str
    reason: str | None
    variant: str | None
    is_default_value: bool
    context_kind: str | None
    flag_metadata: dict[str, Any]
    vendor_details: dict[str, Any]


Normalizer = Callable[[RawEvaluation], Normalized]
"""A function turning a :class:`RawEvaluation` into a :class:`Normalized` row fragment."""


def clean_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Drop ``None`` values, which some providers (Split) put in ``flag_metadata``."""
    return {str(k): v for k, v in metadata.items() if v is not None}


def standard_reason(raw: RawEvaluation) -> str | None:
    """OpenFeature reason for *raw*: ERROR whenever an error code is set, UNKNOWN for free text."""
    if raw.error_code is not None:
        return "ERROR"
    if raw.reason is None:
        return None
    return raw.reason if raw.reason in OPENFEATURE_REASONS else "UNKNOWN"


def served_default(raw: RawEvaluation, reason: str | None) -> bool:
    """Whether the caller got the code default rather than a value configured in the vendor."""
    return raw.error_code is not None or (raw.variant is None and reason in ("DISABLED", "DEFAULT"))


def attribute_kind(attributes: Mapping[str, Any]) -> str | None:
    """The ``kind`` attribute, when the app set one (a common convention for multi-kind contexts)."""
    kind = attributes.get("kind")
    return kind if isinstance(kind, str) else None


def normalize_generic(raw: RawEvaluation, vendor: str) -> Normalized:
    """Rules that hold for every provider; vendor modules refine them."""
    reason = standard_reason(raw)
    details: dict[str, Any] = {}
    variant = raw.variant
    if raw.error_code is not None and variant is not None:
        # On error the caller got the code default: whatever the provider called it
        # (Split's "control") is kept for reference but is not a served variant.
        details["vendor_variant"] = variant
        variant = None
    return Normalized(
        vendor=vendor,
        reason=reason,
        variant=variant,
        is_default_value=served_default(raw, reason),
        context_kind=attribute_kind(raw.attributes),
        flag_metadata=clean_metadata(raw.flag_metadata),
        vendor_details=details,
    )


def lift_details(base: Normalized, keys: Mapping[str, str]) -> dict[str, Any]:
    """``base.vendor_details`` plus the flag metadata entries named in *keys* (metadata key ->
    ``vendor_details`` key), for vendors that report details through flag metadata."""
    details: dict[str, Any] = dict(base.vendor_details)
    for key, column in keys.items():
        if key in base.flag_metadata:
            details[column] = base.flag_metadata[key]
    return details
