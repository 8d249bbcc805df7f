"""The example's flags, served by OpenFeature's in-memory provider (no network needed)."""

from __future__ import annotations

import hashlib

from openfeature.evaluation_context import EvaluationContext
from openfeature.flag_evaluation import FlagResolutionDetails, Reason
from openfeature.provider.in_memory_provider import InMemoryFlag


def half_and_half(flag: InMemoryFlag[str], ctx: EvaluationContext | None) -> FlagResolutionDetails[str]:
    """A 50/50 split on the user id: a stand-in for your vendor's targeting."""
    key = (ctx.targeting_key if ctx else None) or ""
    variant = "treatment" if key and hashlib.sha256(key.encode()).digest()[0] % 2 else "control"
    return FlagResolutionDetails(flag.variants[variant], variant=variant, reason=Reason.SPLIT)


FLAGS = {
    "home-banner": InMemoryFlag(
        "control",
        {"control": "Welcome to the shop", "treatment": "Welcome! Try our one-click checkout"},
        context_evaluator=half_and_half,
    )
}
