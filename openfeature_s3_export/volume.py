"""Which evaluations are written: flag filters, exposure de-duplication, deterministic sampling.

Each is applied on the worker thread, before a row is built, and each event it removes is
counted in ``EventExporter.stats()`` (``filtered``, ``deduplicated``, ``sampled_out``).  None of
them is on by default.  See docs/privacy.md for when each one is safe for analysis.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

import attrs


def _patterns(values: Collection[str] | str | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    patterns = tuple(values)
    if not all(isinstance(p, str) and p for p in patterns):
        raise ValueError(f"flag key patterns are non-empty strings, got {patterns!r}")
    return patterns


def _exclusions(values: Collection[str] | str | None) -> tuple[str, ...]:
    return _patterns(values) or ()


def _sample_rate(value: float) -> float:
    return _rate("Sampling rate", value)


def _flag_rates(rates: Mapping[str, float]) -> dict[str, float]:
    return {str(k): _rate(f"Sampling rate for {k!r}", v) for k, v in rates.items()}


def _rate(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a number from 0 to 1, got {value!r}")
    return float(value)


@attrs.frozen(slots=True)
class FlagFilter:
    """Which flags' evaluations are exported (track events are never filtered).

    :param include: flag key patterns (``fnmatch`` globs, case-sensitive: ``"checkout-*"``) to
        export; ``None`` exports every flag.
    :param exclude: flag key patterns never exported (wins over *include*).
    :param experiments_only: export only evaluations that are part of an experiment: those the
        vendor marks as such (LaunchDarkly's ``inExperiment``, which its provider passes in the
        flag metadata), else those whose flag metadata holds a true value under
        *experiment_metadata_key* (set it in flagd's flag or flag-set ``metadata``, or in any
        provider's flag metadata).
    :param experiment_metadata_key: the flag metadata key that marks an experiment.

    .. versionadded:: 0.1.0
    """

    include: tuple[str, ...] | None = attrs.field(default=None, converter=_patterns)
    exclude: tuple[str, ...] = attrs.field(default=(), converter=_exclusions)
    experiments_only: bool = False
    experiment_metadata_key: str = "experiment"


@attrs.frozen(slots=True)
class Deduplication:
    """Exposure de-duplication: at most one evaluation row per (targeting key, flag, variant)
    within *window* seconds of event time, in this process.

    A changed variant is always logged (A → B → A gives three rows).  Safe for first-exposure
    analysis; wrong for per-request analysis (evaluations per request, per-request latency or
    error rates).  Evaluations without a targeting key are never de-duplicated.

    :param window: seconds after a logged row during which the same unit, flag and variant
        are not logged again; after it, the next one is (returning users stay visible).
    :param max_entries: (unit, flag) pairs remembered at most (least recently seen forgotten
        first); about 250 bytes each (docs/privacy.md).

    .. versionadded:: 0.1.0
    """

    window: float = 600.0
    max_entries: int = 100_000

    def __attrs_post_init__(self) -> None:
        if not (isinstance(self.window, (int, float)) and math.isfinite(self.window) and self.window > 0):
            raise ValueError(f"Deduplication window must be a positive number of seconds: {self.window!r}")
        if not (isinstance(self.max_entries, int) and self.max_entries > 0):
            raise ValueError(f"Deduplication max_entries must be a positive integer: {self.max_entries!r}")


@attrs.frozen(slots=True)
class Sampling:
    """Deterministic sampling by targeting key: a unit is in or out of the sample everywhere
    (every process, machine and restart), and each row says the rate it was sampled at
    (``sample_rate``) so an analysis can weight it by ``1 / sample_rate``.

    :param rate: share of units exported, from 0 to 1; also applies to track events.
    :param per_flag: flag key pattern (``fnmatch`` glob) → rate for that flag's evaluations;
        the first matching pattern wins, other flags use *rate*.  The units kept at a low rate
        are a subset of those kept at a higher one, so a unit sampled into any flag also has
        its track events.
    :param salt: changes which units are picked (the same salt everywhere keeps decisions
        consistent).

    Rows without a targeting key cannot be sampled by unit: they are all kept, with
    ``sample_rate`` 1.

    .. versionadded:: 0.1.0
    """

    rate: float = attrs.field(default=1.0, converter=_sample_rate)
    per_flag: Mapping[str, float] = attrs.field(factory=dict, converter=_flag_rates)
    salt: str = ""
