"""Split / Harness FME (``split-openfeature-provider``).

Every successful evaluation reports TARGETING_MATCH (killed flags and default rules included:
the Split label is not exposed).  A missing flag comes back as reason DEFAULT with
FLAG_NOT_FOUND and variant ``"control"``.  ``flag_metadata["config"]`` is the treatment's
dynamic configuration as an unparsed JSON string, or ``None``.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from ._base import Normalized, RawEvaluation, normalize_generic

PROVIDER_NAMES = ("Split",)
VENDOR = "split"


def normalize(raw: RawEvaluation) -> Normalized:
    """Keep the treatment name and the parsed dynamic config in ``vendor_details``."""
    base = normalize_generic(raw, VENDOR)
    details: dict[str, Any] = dict(base.vendor_details)
    treatment = raw.variant
    if treatment is not None:
        details["treatment"] = treatment
    config = raw.flag_metadata.get("config")
    if isinstance(config, str):
        try:
            details["config"] = json.loads(config)
        except ValueError:
            details["config"] = config
    return attrs.evolve(base, vendor_details=details)
