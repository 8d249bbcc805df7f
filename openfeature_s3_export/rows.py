"""From capture record to schema v1 row, on the worker thread.

Vendor normalisation, encoding of user values into JSON text, event ids and timestamps all
happen here, never on the caller's thread.
"""

from __future__ import annotations

import json
import math
import os
import random
import socket
import time
from collections.abc import Mapping
from typing import Any

import attrs

from ._encoding import EncodedLine, EncodingError, dumps
from ._version import __version__
from .capture import TRACK
from .privacy import ContextPolicy
from .schema import COLUMNS, KIND_EVALUATION, KIND_TRACK, Row
from .vendors import Normalized, RawEvaluation, normalize, vendor_for
from .vendors._base import attribute_kind


@attrs.frozen(slots=True)
class Source:
    """Where events come from, written into every row.

    .. versionadded:: 0.1.0
    """

    service_name: str | None = None
    environment: str | None = None
    host: str | None = attrs.field(factory=socket.gethostname)
    library_version: str = __version__


# Event ids need uniqueness, not unpredictability: a private Mersenne Twister seeded from the OS
# is ~20x cheaper than os.urandom per id.  Private, so an app calling random.seed() cannot make
# two processes produce the same ids, and re-seeded in a forked child for the same reason.
_rng = random.Random()
os.register_at_fork(after_in_child=_rng.seed)
_getrandbits = _rng.getrandbits


# (millisecond, "xxxxxxxx-xxxx-7"): events come in bursts within one millisecond.  One tuple,
# replaced whole, so concurrent workers (one per exporter) never see half an update.
_ms_prefix: tuple[int, str] = (-1, "")


def uuid7(time_ns: int) -> str:
    """A UUIDv7 (RFC 9562) for *time_ns*: time-ordered, 62 random bits for uniqueness.

    The 12 ``rand_a`` bits carry sub-millisecond time (RFC 9562 method 3), so ids sort by event
    time to within 250 ns.
    """
    global _ms_prefix
    ms, rest = divmod(time_ns, 1_000_000)
    cached_ms, prefix = _ms_prefix
    if ms != cached_ms:
        h = f"{ms & 0xFFFF_FFFF_FFFF:012x}"
        prefix = f"{h[:8]}-{h[8:]}-7"
        _ms_prefix = (ms, prefix)
    tail = f"{0x8000_0000_0000_0000 | _getrandbits(62):016x}"  # variant bits 10, then random
    return f"{prefix}{rest * 4096 // 1_000_000:03x}-{tail[:4]}-{tail[4:]}"


class _Timestamps:
    """RFC 3339 text for event times; the seconds part is formatted once per second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def format(self, timestamp_us: int) -> str:
        seconds, micros = divmod(timestamp_us, 1_000_000)
        if seconds != self._second:
            self._second = seconds
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        return f"{self._prefix}.{micros:06d}Z"


def rfc3339_us(timestamp_us: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for a UTC time in microseconds since the epoch."""
    return _Timestamps().format(timestamp_us)


def _text(value: Any) -> str | None:
    """Enums (``Reason``, ``ErrorCode``, ``FlagType``) and stray non-strings as plain text."""
    if value is None or type(value) is str:
        return value
    return str(value.value) if hasattr(value, "value") and not isinstance(value, str) else str(value)


def _metric(value: Any) -> float | None:
    if value is None:
        return None
    try:
        metric = float(value)
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: int beyond float range
        raise EncodingError(f"track value {value!r} is not a number") from exc
    if metric != metric or metric in (float("inf"), float("-inf")):
        raise EncodingError(f"track value {value!r} is not a finite number")
    return metric


_CACHE_LIMIT = 4096
# Columns between "timestamp" and "targeting_key", and after "context", in COLUMNS order.
_MIDDLE_COLUMNS = COLUMNS[COLUMNS.index("timestamp") + 1 : COLUMNS.index("targeting_key")]
_TAIL_COLUMNS = COLUMNS[COLUMNS.index("context") + 1 :]


def _fragment_key(record: tuple[Any, ...], context: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Everything the constant columns of an evaluation row depend on, or None (uncacheable).

    Built from the record's raw fields (enums compare equal to their text) so that a cache hit
    costs one tuple and one dict lookup.
    """
    _, _, hook_context, value, variant, reason, error_code, error_message, metadata, _ = record
    value_key = _value_key(value)
    default_key = _value_key(hook_context.default_value)
    if value_key is None or default_key is None:
        return None
    provider_metadata = hook_context.provider_metadata
    client_metadata = hook_context.client_metadata
    try:
        key = (
            provider_metadata.name if provider_metadata is not None else None,
            client_metadata.domain if client_metadata is not None else None,
            hook_context.flag_key,
            hook_context.flag_type,
            value_key,
            default_key,
            variant,
            reason,
            error_code,
            error_message,
            context.get("kind"),
            _metadata_key(metadata) if metadata else (),
        )
        hash(key)
    except (TypeError, AttributeError):  # unhashable or odd metadata: build the row in full
        return None
    return key


def _metadata_key(metadata: Mapping[str, Any]) -> tuple[tuple[str, type, Any], ...]:
    """Flag metadata as a cache key, value types included.

    ``1``, ``1.0`` and ``True`` are equal as dict keys but encode differently: without the types,
    ``{"v": True}`` could be written with the cached JSON of ``{"v": 1}``.
    """
    return tuple((key, type(value), value) for key, value in metadata.items())


def _value_key(value: Any) -> tuple[Any, ...] | None:
    """A cache key for a scalar flag value (type included: True and 1 differ), else None."""
    if type(value) in _JSON_SCALARS:
        return (type(value), value)
    if type(value) is float:
        # 0.0 == -0.0 (same hash): without the sign one would be written as the other.
        return (float, value) if value else (float, value, math.copysign(1.0, value))
    return None


_JSON_SCALARS = (str, int, bool, type(None))
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
# The C string quoter behind JSONEncoder, without its per-call Python overhead (3x cheaper).
_quote: Any = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring


def _flat_json(value: Any) -> str | None:
    """JSON for the common shapes (scalars, flat dicts of scalars) without the generic walk."""
    cls = type(value)
    if cls in _JSON_SCALARS:
        return _compact(value)
    if cls is dict:
        # Contexts are mostly a few string attributes: joining quoted parts directly is about
        # twice as fast as JSONEncoder.encode for them, with byte-identical output.
        parts = []
        for key, item in value.items():
            if type(key) is not str:
                return None
            kind = type(item)
            if kind is str:
                parts.append(f"{_quote(key)}:{_quote(item)}")
            elif kind is bool:
                parts.append(f"{_quote(key)}:{'true' if item else 'false'}")
            elif kind is int:
                parts.append(f"{_quote(key)}:{int.__repr__(item)}")
            elif item is None:
                parts.append(f"{_quote(key)}:null")
            else:
                return None
        return "{" + ",".join(parts) + "}"
    return None


class RowBuilder:
    """Turns capture records into :class:`Row` rows (worker thread only, not shared).

    Flag evaluations repeat: the same flag, variant and metadata come back for thousands of
    users.  The vendor normalisation and the JSON of metadata and scalar values are therefore
    cached (bounded), which keeps the worker well ahead of the fastest evaluation loop.
    """

    def __init__(self, source: Source, policy: ContextPolicy | None = None) -> None:
        self.source = source
        policy = policy or ContextPolicy()
        self._filter = None if policy.is_noop else policy.apply
        self._timestamps = _Timestamps()
        self._normalized: dict[tuple[Any, ...], tuple[Normalized, str, str]] = {}
        self._values: dict[tuple[type, Any], str] = {}
        self._fragments: dict[tuple[Any, ...], tuple[str, str, str, str]] = {}

    def encode(self, record: tuple[Any, ...]) -> EncodedLine:
        """The row for *record*, encoded as one newline-terminated JSON line.

        :raises EncodingError: when a user value cannot be encoded (including text that is not
            valid Unicode, such as lone surrogates); the caller drops the event.
        """
        try:
            if record[0] != TRACK:
                return self._encode_evaluation(record)
            event, timestamp_us = self.build(record)
            data = _compact(event.to_dict()).encode("utf-8") + b"\n"
        except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            if isinstance(exc, EncodingError):
                raise
            raise EncodingError(str(exc)) from exc
        return EncodedLine(data, timestamp_us, event.targeting_key)

    def _encode_evaluation(self, record: tuple[Any, ...]) -> EncodedLine:
        # Only the id, time, targeting key and context differ between two evaluations of the
        # same flag with the same outcome; every other column is a cached JSON fragment.  The
        # line is identical to encoding build()'s row, column order included.
        time_ns, hook_context = record[1], record[2]
        context = self._context(record[9])
        timestamp_us = time_ns // 1000
        key = _fragment_key(record, context)
        fragments = self._fragments.get(key) if key is not None else None
        if fragments is None:
            event, _ = self._evaluation(record)
            row = event.to_dict()
            head = _compact({k: row[k] for k in _MIDDLE_COLUMNS})[1:-1]
            tail = _compact({k: row[k] for k in _TAIL_COLUMNS})[1:-1]
            fragments = (
                '","kind":"evaluation","timestamp":"',
                f'",{head},"targeting_key":',
                f',"context_kind":{_compact(row["context_kind"])},"context":',
                f",{tail}}}\n",
            )
            if key is not None:
                if len(self._fragments) >= _CACHE_LIMIT:
                    self._fragments.clear()
                self._fragments[key] = fragments
        context_json = _flat_json(context) or dumps(context)
        targeting_key = _text(hook_context.evaluation_context.targeting_key)
        line = "".join(
            (
                '{"schema_version":1,"event_id":"',
                uuid7(time_ns),
                fragments[0],
                self._timestamps.format(timestamp_us),
                fragments[1],
                "null" if targeting_key is None else _quote(targeting_key),
                fragments[2],
                _quote(context_json),
                fragments[3],
            )
        )
        return EncodedLine(line.encode("utf-8"), timestamp_us, targeting_key)

    def _context(self, attributes: Mapping[str, Any] | None) -> Mapping[str, Any]:
        if not attributes:
            return {}
        return self._filter(attributes) if self._filter is not None else attributes

    def build(self, record: tuple[Any, ...]) -> tuple[Row, int]:
        """The row for *record* and its event time in microseconds.

        :raises EncodingError: when a user value cannot be encoded; the caller drops the event.
        """
        if record[0] == TRACK:
            return self._track(record)
        return self._evaluation(record)

    def _json(self, value: Any) -> str:
        if type(value) in _JSON_SCALARS and not (type(value) is str and len(value) > 256):
            key = (type(value), value)  # True and 1 must not share an entry
            text = self._values.get(key)
            if text is None:
                if len(self._values) >= _CACHE_LIMIT:
                    self._values.clear()
                text = self._values[key] = _compact(value)
            return text
        return _flat_json(value) or dumps(value)

    def _track(self, record: tuple[Any, ...]) -> tuple[Row, int]:
        _, time_ns, event_name, provider, domain, targeting_key, context, value, attributes = record
        context = self._context(context)
        timestamp_us = time_ns // 1000
        source = self.source
        event = Row(
            event_id=uuid7(time_ns),
            kind=KIND_TRACK,
            timestamp=self._timestamps.format(timestamp_us),
            provider=provider,
            vendor=vendor_for(provider),
            domain=domain,
            targeting_key=_text(targeting_key),
            context_kind=attribute_kind(context),
            context=_flat_json(context) or dumps(context),
            event_name=_text(event_name),
            metric_value=_metric(value),
            attributes=_flat_json(attributes or {}) or dumps(attributes),
            library_version=source.library_version,
            service_name=source.service_name,
            environment=source.environment,
            host=source.host,
        )
        return event, timestamp_us

    @staticmethod
    def _normalize_key(raw: RawEvaluation, extra: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        """Everything normalisation depends on, or None when it cannot be a dict key."""
        try:
            key = (
                raw.provider,
                raw.flag_key,
                raw.flag_type,
                raw.variant,
                raw.reason,
                raw.error_code,
                attribute_kind(raw.attributes),
                _metadata_key(raw.flag_metadata),
                *extra,
            )
            hash(key)
        except TypeError:  # unhashable metadata values: skip the cache
            return None
        return key

    def _raw(self, record: tuple[Any, ...], context: Mapping[str, Any]) -> RawEvaluation:
        hook_context, variant, reason, error_code, metadata = (
            record[2],
            record[4],
            record[5],
            record[6],
            record[8],
        )
        provider_metadata = hook_context.provider_metadata
        flag_type = _text(hook_context.flag_type)
        return RawEvaluation(
            provider=provider_metadata.name if provider_metadata is not None else None,
            flag_key=str(hook_context.flag_key),
            flag_type=flag_type.lower() if flag_type else None,
            variant=_text(variant),
            reason=_text(reason),
            error_code=_text(error_code),
            flag_metadata=metadata if isinstance(metadata, Mapping) else {},
            attributes=context,
        )

    def _normalize(self, raw: RawEvaluation) -> tuple[Normalized, str, str]:
        key = self._normalize_key(raw)
        if key is not None:
            hit = self._normalized.get(key)
            if hit is not None:
                return hit
        norm = normalize(raw)
        entry = (norm, dumps(norm.flag_metadata), dumps(norm.vendor_details))
        if key is not None:
            if len(self._normalized) >= _CACHE_LIMIT:
                self._normalized.clear()
            self._normalized[key] = entry
        return entry

    def _evaluation(self, record: tuple[Any, ...]) -> tuple[Row, int]:
        _, time_ns, hook_context, value, variant, reason, error_code, error_message, metadata, context = (
            record
        )
        context = self._context(context)
        timestamp_us = time_ns // 1000
        provider_metadata = hook_context.provider_metadata
        client_metadata = hook_context.client_metadata
        flag_type = _text(hook_context.flag_type)
        raw = RawEvaluation(
            provider=provider_metadata.name if provider_metadata is not None else None,
            flag_key=str(hook_context.flag_key),
            flag_type=flag_type.lower() if flag_type else None,
            variant=_text(variant),
            reason=_text(reason),
            error_code=_text(error_code),
            flag_metadata=metadata if isinstance(metadata, Mapping) else {},
            attributes=context,
        )
        norm, metadata_json, details_json = self._normalize(raw)
        source = self.source
        value_json, default_json = self._json(value), self._json(hook_context.default_value)
        is_default_value = norm.is_default_value
        if is_default_value and raw.error_code is not None:
            # On error the SDK normally hands the caller the default, but not always (an async
            # type mismatch in openfeature-sdk 0.10 returns the flag's value): say what it got.
            is_default_value = value_json == default_json
        event = Row(
            event_id=uuid7(time_ns),
            kind=KIND_EVALUATION,
            timestamp=self._timestamps.format(timestamp_us),
            provider=raw.provider,
            vendor=norm.vendor,
            domain=client_metadata.domain if client_metadata is not None else None,
            targeting_key=_text(hook_context.evaluation_context.targeting_key),
            context_kind=norm.context_kind,
            context=_flat_json(context) or dumps(context),
            flag_key=raw.flag_key,
            flag_type=raw.flag_type,
            value=value_json,
            default_value=default_json,
            variant=norm.variant,
            reason=norm.reason,
            vendor_reason=raw.reason,
            error_code=raw.error_code,
            error_message=_text(error_message),
            is_default_value=is_default_value,
            flag_metadata=metadata_json,
            vendor_details=details_json,
            library_version=source.library_version,
            service_name=source.service_name,
            environment=source.environment,
            host=source.host,
        )
        return event, timestamp_us


def build_event(record: tuple[Any, ...], source: Source) -> tuple[Row, int]:
    """Turn one capture record into a row (convenience wrapper around :class:`RowBuilder`)."""
    return RowBuilder(source).build(record)
