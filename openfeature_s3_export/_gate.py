"""The privacy and volume gate: what of a capture record goes on to become a row (worker only).

Runs before the row is built, so that every sink gets the same rows: flag filters, sampling and
exposure de-duplication decide whether a record is exported at all (each event removed is
counted), then the context and track-attribute policies and keyed hashing rewrite what it
carries.  The row builder calls :meth:`Gate.admit`, encodes what it returns, and only then
:meth:`Gate.logged`, so a de-duplication slot is taken by a row that is really on its way.

Built only when an option beyond a plain :class:`~openfeature_s3_export.ContextPolicy` is set:
with every option off the row builder's fast path runs alone.
"""

from __future__ import annotations

import fnmatch
import random
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from . import _capture as capture
from ._counters import HotCounter
from ._dedup import ExposureLog
from ._hashing import Hasher
from ._sampling import Sampler
from ._snapshot import RichAttributes
from .privacy import PRIVATE_ATTRIBUTES_KEY, ContextPolicy, Hashing
from .volume import Deduplication, FlagFilter, Sampling

FILTERED: Final = "filtered"
"""Stats key: evaluations a :class:`~openfeature_s3_export.FlagFilter` did not export."""
HASHED: Final = "hashed"
"""Stats key: exported events with at least one value hashed (not a removal)."""
DEDUPLICATED: Final = "deduplicated"
"""Stats key: evaluations not exported because the same exposure was logged within the window."""
SAMPLED_OUT: Final = "sampled_out"
"""Stats key: events whose unit is outside the sample."""
COUNTERS: Final = (FILTERED, HASHED, DEDUPLICATED, SAMPLED_OUT)
REMOVALS: Final = (FILTERED, DEDUPLICATED, SAMPLED_OUT)
"""The counters of events taken out before export (they balance ``stats()``'s identity)."""

_MAX_FLAGS = 4096
# Record fields, as plain globals: this runs for every event.
_KIND, _TRACK, _TIME_NS = capture.KIND, capture.TRACK, capture.TIME_NS
_ATTRIBUTES, _KEY = capture.CONTEXT_ATTRIBUTES, capture.EVALUATION_TARGETING_KEY
_FLAG_KEY, _VARIANT, _METADATA = capture.FLAG_KEY, capture.VARIANT, capture.FLAG_METADATA
_FALSE_TEXT = frozenset({"", "0", "false", "no", "off"})


def _matcher(patterns: tuple[str, ...]) -> Any:
    return re.compile("|".join(fnmatch.translate(p) for p in patterns)).match


def _marks_experiment(value: Any) -> bool:
    """A flag metadata value that says "experiment": true, a non-zero number, or a text other
    than an explicit no."""
    if isinstance(value, bool) or value is None:
        return value is True
    if isinstance(value, (int, float)):
        return value != 0
    return isinstance(value, str) and value.strip().lower() not in _FALSE_TEXT


def _text(value: Any) -> str:
    if type(value) is str:
        return value
    try:
        return str(value)
    except Exception:  # a hostile __str__: the event stays (its key is degraded downstream)
        return f"<unencodable {type(value).__name__}>"


class Gate:
    """Flag filters, sampling, de-duplication, attribute policies and hashing for one exporter."""

    def __init__(
        self,
        *,
        context_policy: ContextPolicy | None = None,
        attributes_policy: ContextPolicy | None = None,
        hashing: Hashing | None = None,
        flag_filter: FlagFilter | None = None,
        deduplication: Deduplication | None = None,
        sampling: Sampling | None = None,
    ) -> None:
        for name, policy in (("context_policy", context_policy), ("attributes_policy", attributes_policy)):
            if policy is not None and policy.hashed and hashing is None:
                raise ValueError(
                    f"{name} hashes {sorted(policy.hashed)} but no key was given: "
                    "pass hashing=Hashing(secret=...)"
                )
        policy = context_policy if context_policy is not None else ContextPolicy()
        self._context_apply = None if policy.is_noop else policy.apply
        # The default policy only acts on contexts that list private attributes.
        self._context_all = policy.allow is not None or bool(policy.deny) or bool(policy.hashed)
        self._attributes_policy = (
            None if attributes_policy is None or attributes_policy.is_noop else attributes_policy
        )
        self._hasher: Hasher | None = None
        self._hash_key: Callable[[str], str] | None = None
        if hashing is not None:
            self._hasher = hashing.hasher()
            self._hash_key = self._hasher.text if hashing.targeting_key else None
        self.hash_key_id = hashing.key_id if hashing is not None else None
        """Written to every row's ``hash_key_id`` (``None`` without hashing)."""
        flags = flag_filter or FlagFilter()
        self._included = None if flags.include is None else _matcher(flags.include)
        self._excluded = _matcher(flags.exclude) if flags.exclude else None
        self._experiments_key = flags.experiment_metadata_key if flags.experiments_only else None
        self._sampler = Sampler(sampling.salt) if sampling is not None else None
        self._rate_patterns = [(_matcher((p,)), r) for p, r in sampling.per_flag.items()] if sampling else []
        self.track_rate = sampling.rate if sampling is not None else None
        """Written to every track row's ``sample_rate`` (``None`` without sampling)."""
        self._random = random.Random()
        self._exposures = None
        if deduplication is not None:
            self._exposures = ExposureLog(deduplication.window, deduplication.max_entries)
        self._flags: dict[Any, tuple[bool, float | None]] = {}
        self._pending: tuple[int, Any, int] | None = None
        self._decided = False  # decide() admitted the event, logged() not yet called
        self._hashed = False  # the last rewrite() hashed a value
        self._counts = {key: HotCounter() for key in COUNTERS}  # replaced by bind_counters

    def bind_counters(self, counter: Any) -> None:
        """Count through ``counter(key)`` (``Engine.hot_counter``: folded into ``stats()``)."""
        self._counts = {key: counter(key) for key in COUNTERS}

    # -- per flag ---------------------------------------------------------------------------

    def flag_rate(self, flag_key: Any) -> float | None:
        """The sample rate of *flag_key*'s evaluations (``None`` without sampling)."""
        return self._flag(flag_key)[1]

    def _flag(self, flag_key: Any) -> tuple[bool, float | None]:
        known = self._flags.get(flag_key)
        if known is None:
            key = _text(flag_key)
            exported = (self._included is None or self._included(key) is not None) and (
                self._excluded is None or self._excluded(key) is None
            )
            rate = self.track_rate
            for match, flag_rate in self._rate_patterns:
                if match(key) is not None:
                    rate = flag_rate
                    break
            if len(self._flags) >= _MAX_FLAGS:
                self._flags.clear()
            known = self._flags[flag_key] = (exported, rate)
        return known

    # -- per event --------------------------------------------------------------------------

    def admit(self, record: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The record to build the row from (attributes and keys rewritten), or ``None`` when
        the event is not exported (counted): :meth:`decide`, then :meth:`rewrite`."""
        return self.rewrite(record) if self.decide(record) else None

    def decide(self, record: tuple[Any, ...]) -> bool:
        """Whether the event is exported at all: flag filters, sampling, de-duplication (a
        removal is counted here).  Decided once per event: a record encoded again after an odd
        value (its degraded copy) goes through :meth:`rewrite` only."""
        self._pending = None
        self._decided = False
        if record[_KIND] == _TRACK:
            rate = self.track_rate
            if rate is not None and rate < 1.0 and not self._sampled(record[capture.TARGETING_KEY], rate):
                self._counts[SAMPLED_OUT].incr()
                return False
            self._decided = True
            return True
        targeting_key = record[_KEY]
        flag_key = record[_FLAG_KEY]
        known = self._flags.get(flag_key)
        exported, rate = known if known is not None else self._flag(flag_key)
        if not exported or (self._experiments_key is not None and not self._is_experiment(record)):
            self._counts[FILTERED].incr()
            return False
        if rate is not None and rate < 1.0 and not self._sampled(targeting_key, rate):
            self._counts[SAMPLED_OUT].incr()
            return False
        if self._exposures is not None and targeting_key is not None:
            key = hash((_text(targeting_key), flag_key))
            variant, time_us = record[_VARIANT], record[_TIME_NS] // 1000
            if self._exposures.seen(key, variant, time_us):
                self._counts[DEDUPLICATED].incr()
                return False
            self._pending = (key, variant, time_us)
        self._decided = True
        return True

    def rewrite(self, record: tuple[Any, ...]) -> tuple[Any, ...]:
        """*record* with the attribute policies and keyed hashing applied (counted as
        ``hashed`` by :meth:`logged`, once the row is on its way)."""
        hasher = self._hasher
        calls = hasher.calls if hasher is not None else 0
        if record[_KIND] == _TRACK:
            record = self._rewrite_track(record)
        else:
            targeting_key = record[_KEY]
            attributes = record[_ATTRIBUTES]
            kept = self._context(attributes)
            key_column = targeting_key
            if targeting_key is not None and self._hash_key is not None:
                key_column = self._hash_key(_text(targeting_key))
            if kept is not attributes or key_column is not targeting_key:
                rewritten = list(record)  # the cheapest way to a tuple with two fields replaced
                rewritten[_ATTRIBUTES] = kept
                rewritten[_KEY] = key_column
                record = tuple(rewritten)
        self._hashed = hasher is not None and hasher.calls != calls
        return record

    def logged(self) -> None:
        """The record decided last was encoded: it takes its exposure slot, and its hashing is
        counted (once, however many times it was encoded)."""
        if self._pending is not None and self._exposures is not None:
            self._exposures.logged(*self._pending)
            self._pending = None
        if self._decided and self._hashed:
            self._counts[HASHED].incr()
        self._decided = False

    def _rewrite_track(self, record: tuple[Any, ...]) -> tuple[Any, ...]:
        targeting_key = record[capture.TARGETING_KEY]
        attributes = self._context(record[capture.CONTEXT_ATTRIBUTES])
        track_attributes = record[capture.ATTRIBUTES]
        if track_attributes and self._attributes_policy is not None:
            track_attributes = _same_kind(
                track_attributes, self._attributes_policy.apply(track_attributes, self._hasher)
            )
        if targeting_key is not None and self._hash_key is not None:
            targeting_key = self._hash_key(_text(targeting_key))
        fields = list(record)
        fields[capture.CONTEXT_ATTRIBUTES] = attributes
        fields[capture.TARGETING_KEY] = targeting_key
        fields[capture.ATTRIBUTES] = track_attributes
        return tuple(fields)

    def _context(self, attributes: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
        if (
            not attributes
            or self._context_apply is None
            or not (self._context_all or PRIVATE_ATTRIBUTES_KEY in attributes)
        ):
            return attributes
        return _same_kind(attributes, self._context_apply(attributes, self._hasher))

    def _is_experiment(self, record: tuple[Any, ...]) -> bool:
        metadata = record[_METADATA]
        if not isinstance(metadata, Mapping):
            return False
        return metadata.get("inExperiment") is True or _marks_experiment(metadata.get(self._experiments_key))

    def _sampled(self, targeting_key: Any, rate: float) -> bool:
        if targeting_key is None:
            # No unit to keep consistent: sampled at random at the same rate, so that the
            # row's sample_rate still weights it right.
            return self._random.random() < rate
        assert self._sampler is not None
        return self._sampler.keeps(_text(targeting_key), rate)


def gate_for(options: Mapping[str, Any]) -> Gate | None:
    """The gate for these ``EventExporter`` options, or ``None`` when the row builder's fast path
    can run alone: no option beyond a context policy that hashes nothing."""
    policy = options.get("context_policy")
    if set(options) - {"context_policy"} or (policy is not None and policy.hashed):
        return Gate(**options)
    return None


def _same_kind(original: Mapping[str, Any], kept: Mapping[str, Any]) -> Mapping[str, Any]:
    """A filtered copy of a rich mapping stays rich: its values still need normalising."""
    return RichAttributes(kept) if type(original) is RichAttributes and type(kept) is dict else kept
