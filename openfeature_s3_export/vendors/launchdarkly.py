"""LaunchDarkly (``launchdarkly-openfeature-server``).

The provider passes LD's own reason kinds through as strings (``FALLTHROUGH``, ``RULE_MATCH``,
``PREREQUISITE_FAILED``), sets ``variant`` to the variation *index* as a string, and puts the
evaluation reason's details into ``flag_metadata``.  The flag version is not exposed.
"""

from __future__ import annotations

import attrs

from ._base import Normalized, RawEvaluation, lift_details, normalize_generic

PROVIDER_NAMES = ("launchdarkly-openfeature-server",)
VENDOR = "launchdarkly"

# LD reason kind -> OpenFeature reason.  FALLTHROUGH is the flag's default rule (OpenFeature
# DEFAULT); a prerequisite failure serves the off variation exactly as a disabled flag does.
_REASONS = {
    "FALLTHROUGH": "DEFAULT",
    "RULE_MATCH": "TARGETING_MATCH",
    "PREREQUISITE_FAILED": "DISABLED",
    "TARGET_MATCH": "TARGETING_MATCH",
    "OFF": "DISABLED",
}

_DETAIL_KEYS = {
    "variationIndex": "variation_index",
    "ruleId": "rule_id",
    "ruleIndex": "rule_index",
    "inExperiment": "in_experiment",
    "prerequisiteKey": "prerequisite_key",
    "bigSegmentsStatus": "big_segments_status",
}


def normalize(raw: RawEvaluation) -> Normalized:
    """Map LD reasons to OpenFeature ones (SPLIT for experiment traffic) and lift LD details."""
    base = normalize_generic(raw, VENDOR)
    details = lift_details(base, _DETAIL_KEYS)
    reason = base.reason
    if raw.error_code is None and raw.reason is not None:
        reason = _REASONS.get(raw.reason, base.reason)
        if details.get("in_experiment") is True and reason in ("DEFAULT", "TARGETING_MATCH"):
            reason = "SPLIT"
    # context_kind stays the kind the app set, as for every other vendor and for track rows: LD's
    # implicit "user" default would make the same app's rows differ by vendor and break joins of
    # LD evaluations with LD track events on (context_kind, targeting_key).
    return attrs.evolve(
        base,
        reason=reason,
        # LD serves the code default (no variation) exactly when variant is None.
        is_default_value=raw.error_code is not None or raw.variant is None,
        vendor_details=details,
    )
