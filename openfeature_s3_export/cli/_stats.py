"""The statistics of ``report``: sample-ratio mismatch and conversion lift (no SciPy needed)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

Z95 = 1.959963984540054
"""The two-sided 95 % normal quantile."""

SRM_ALPHA = 0.001
"""Sample-ratio mismatch is flagged below this p-value, as the platforms do."""


def chi_square_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-square variable with *df* (a positive integer) degrees of freedom.

    Closed forms for integer degrees of freedom: a finite Poisson sum for even *df*, and
    ``erfc`` plus a finite sum for odd *df*.
    """
    if df < 1:
        raise ValueError("df must be at least 1")
    if x <= 0:
        return 1.0
    half = x / 2.0
    if df % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, df // 2):
            term *= half / i
            total += term
        return min(1.0, math.exp(-half) * total)
    total = math.erfc(math.sqrt(half))
    term = math.sqrt(half) / math.gamma(1.5)  # i = 1: half**0.5 / Gamma(1.5)
    for i in range(1, (df - 1) // 2 + 1):
        if i > 1:
            term *= half / (i - 0.5)
        total += math.exp(-half) * term
    return min(1.0, total)


def sample_ratio_mismatch(observed: Mapping[str, int], weights: Mapping[str, float]) -> dict[str, Any]:
    """Chi-square goodness of fit of units per variant against the intended *weights*."""
    total = sum(observed.values())
    weight_sum = sum(weights.values())
    expected = {v: total * w / weight_sum for v, w in weights.items()}
    extra = sorted(set(observed) - set(weights))
    chi2 = sum((observed.get(v, 0) - e) ** 2 / e for v, e in expected.items() if e > 0)
    df = max(len(weights) - 1, 1)
    p_value = chi_square_sf(chi2, df) if total and len(weights) > 1 else 1.0
    return {
        "units": total,
        "expected": expected,
        "chi_square": chi2,
        "df": df,
        "p_value": p_value,
        "mismatch": p_value < SRM_ALPHA or bool(extra),
        "unexpected_variants": extra,
    }


def conversion_lift(converted: int, units: int, base_converted: int, base_units: int) -> dict[str, Any]:
    """Difference and relative lift of a conversion rate against the control, with 95 % intervals.

    The difference uses the normal (Wald) interval; the relative lift uses the log of the rate
    ratio (Katz), which stays inside (-100 %, +inf) and needs conversions in both arms.
    """
    out: dict[str, Any] = {"diff": None, "diff_low": None, "diff_high": None}
    out.update(lift=None, lift_low=None, lift_high=None)
    if not units or not base_units:
        return out
    p, q = converted / units, base_converted / base_units
    se = math.sqrt(p * (1 - p) / units + q * (1 - q) / base_units)
    out.update(diff=p - q, diff_low=p - q - Z95 * se, diff_high=p - q + Z95 * se)
    if converted and base_converted:
        ratio = p / q
        se_log = math.sqrt(1 / converted - 1 / units + 1 / base_converted - 1 / base_units)
        out.update(
            lift=ratio - 1,
            lift_low=math.exp(math.log(ratio) - Z95 * se_log) - 1,
            lift_high=math.exp(math.log(ratio) + Z95 * se_log) - 1,
        )
    return out
