"""flagd (``openfeature-provider-flagd``), in-process or RPC.

Reasons are standard OpenFeature ones (a fractional split reports TARGETING_MATCH).  The flag
set's ``metadata`` (``flagSetId``, ``version``, ``scope``...) is merged into every flag's
metadata, flag-level keys winning.
"""

from __future__ import annotations

import attrs

from ._base import Normalized, RawEvaluation, lift_details, normalize_generic

PROVIDER_NAMES = ("FlagdProvider",)
VENDOR = "flagd"

_DETAIL_KEYS = {"flagSetId": "flag_set_id", "version": "flag_version", "scope": "scope"}


def normalize(raw: RawEvaluation) -> Normalized:
    """Lift the flag-set id, version and scope conventions into ``vendor_details``."""
    base = normalize_generic(raw, VENDOR)
    details = lift_details(base, _DETAIL_KEYS)
    return attrs.evolve(base, vendor_details=details)
