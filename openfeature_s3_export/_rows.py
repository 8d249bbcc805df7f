"""From capture record to schema v1 row, and on to its encoded line (worker thread only).

Vendor normalisation, context policies, event ids and timestamps all happen here, never on the
caller's thread.  :mod:`._encoding` turns the rows into bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from . import _capture as capture
from ._accelerated import speedups
from ._encoding import EncodedLine, EncodingError, attributes_json, dumps, encode_row, line_parts
from ._gate import Gate
from ._ids import ID_COUNTER as _ID_COUNTER
from ._ids import ID_TAILS as _ID_TAILS
from ._ids import MICROS as _MICROS
from ._ids import Stamps
from ._snapshot import RichAttributes
from ._source import Source
from .privacy import PRIVATE_ATTRIBUTES_KEY, ContextPolicy
from .schema import KIND_EVALUATION, KIND_TRACK, Row
from .vendors import Normalized, RawEvaluation, normalize, vendor_for
from .vendors._base import attribute_kind


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


# Flag values the line cache compares as they are, with their type: True == 1 == 1.0 as values,
# but they are written differently.
_COMPARABLE = frozenset({str, int, bool, type(None)})
_MAX_FLAGS = 4096
_MAX_OUTCOMES = 64  # outcomes remembered per flag (variants x errors x context kinds)
_EMPTY: Mapping[str, Any] = {}
_new_tuple = tuple.__new__  # a named tuple's own __new__ is a Python function: 3x the cost
_orjson = orjson.dumps
_TRACK = capture.TRACK


def _json_key(value: Any) -> str:
    """A flag value the line cache cannot compare directly: floats by their exact bits (the sign
    of zero, NaN), containers and other objects by their JSON text."""
    if type(value) is float:
        return value.hex()
    return dumps(value)


def _metadata_key(metadata: Any) -> tuple[Any, ...]:
    """Flag metadata as a comparable key, value types included (``1``, ``1.0`` and ``True``
    are equal but encode differently); NaN never matches, so it is never served from the cache."""
    if not metadata:
        return ()
    return (tuple(metadata.items()), tuple(map(type, metadata.values())))


class RowBuilder:
    """Turns capture records into rows and encoded lines (worker thread only, not shared).

    Flag evaluations repeat: the same flag and outcome come back for thousands of users, and
    only four columns differ between them (id, time, targeting key, context).  The line's
    constant parts are built once per flag and outcome from the full row
    (:func:`~openfeature_s3_export._encoding.line_parts`) and joined with the four per event.
    """

    def __init__(self, source: Source, policy: ContextPolicy | None = None, gate: Gate | None = None) -> None:
        self.source = source
        self._source_columns = source.columns()
        # A gate applies the context policy itself (with hashing), before the row is built.
        self._gate = gate
        self._hash_key_id = gate.hash_key_id if gate is not None else None
        if gate is not None:
            policy = ContextPolicy(honour_private_attributes=False)
        policy = policy or ContextPolicy()
        self._filter = None if policy.is_noop else policy.apply
        # The default policy only acts on contexts that list private attributes: skip the call
        # for the others, which is almost all of them.
        self._filter_all = policy.allow is not None or bool(policy.deny)
        self._stamps = Stamps()
        self._normalized: dict[tuple[Any, ...], tuple[Normalized, str, str]] = {}
        # flag key -> [(outcome key, line parts or None for "encode whole")]
        self._lines: dict[Any, list[tuple[tuple[Any, ...], tuple[bytes, ...] | None]]] = {}
        self.encode: Callable[[tuple[Any, ...]], EncodedLine] = self.encode_python
        """``encode(record)``: the encoded line of *record*'s row, :meth:`encode_python` or its
        C version, which joins the cached line parts of known flag outcomes itself and hands
        every other record to :meth:`encode_python`.

        :raises EncodingError: as :meth:`encode_python`."""
        if speedups is not None:
            self.encode = speedups.LineJoiner(
                lines=self._lines,
                fallback=self.encode_python,
                stamps=self._stamps,
                id_counter=_ID_COUNTER,
                id_tails=_ID_TAILS,
                micros=_MICROS,
                json_string=_orjson,
                metadata_key=_metadata_key,
                private_key=PRIVATE_ATTRIBUTES_KEY,
                line_type=EncodedLine,
                filter=0 if self._filter is None else 2 if self._filter_all else 1,
            )

    def encode_python(self, record: tuple[Any, ...]) -> EncodedLine:
        """The encoded line of *record*'s row, in Python (the definition the C version follows).

        :raises EncodingError: when a user value cannot be encoded (including text that is not
            valid Unicode, such as lone surrogates); the caller drops the event.
        """
        # The worker's hot path: every evaluation passes here once, so the evaluation case is
        # written out here rather than called, and calls are inlined where that saves a
        # measurable share (docs/performance.md).
        try:
            if record[0] == _TRACK:
                return encode_row(*self._track(record))
            (
                _,
                time_ns,
                attributes,
                targeting_key,
                flag_key,
                flag_type,
                default,
                value,
                variant,
                reason,
                error_code,
                error_message,
                metadata,
                provider,
                domain,
            ) = record
            if not attributes:
                context = _EMPTY
            elif self._filter is not None and (self._filter_all or PRIVATE_ATTRIBUTES_KEY in attributes):
                context = self._context(attributes)
            else:
                context = attributes
            value_type, default_type = type(value), type(default)
            key = (
                value if value_type in _COMPARABLE else _json_key(value),
                value_type,
                variant,
                reason,
                error_code,
                default if default_type in _COMPARABLE else _json_key(default),
                default_type,
                flag_type,
                provider,
                domain,
                error_message,
                context.get("kind") if context else None,
                _metadata_key(metadata) if metadata else (),
            )
            outcomes = self._lines.get(flag_key)
            if outcomes is not None:
                for known, cached in outcomes:
                    if known == key:
                        parts = cached
                        break
                else:
                    parts = self._remember(record, key, outcomes)
            else:
                parts = self._remember(record, key, None)
            if parts is None:
                return encode_row(*self._evaluation(record))
            if targeting_key is not None and type(targeting_key) is not str:
                targeting_key = _text(targeting_key)
            if type(context) is dict:
                try:
                    context_json = _orjson(_orjson(context).decode())
                except TypeError:  # orjson.JSONEncodeError is one
                    context_json = _orjson(attributes_json(context))
            else:
                context_json = _orjson(attributes_json(context))
            time_us = time_ns // 1000
            stamps = self._stamps
            if time_us // 1000 != stamps.ms:
                stamps.at(time_us // 1000)
            line = b"".join(
                (
                    parts[0],
                    stamps.id_prefix,
                    _ID_TAILS[next(_ID_COUNTER) & 0xFFF],
                    parts[1],
                    stamps.time_prefix,
                    _MICROS[time_us % 1000],
                    parts[2],
                    b"null" if targeting_key is None else _orjson(targeting_key),
                    parts[3],
                    context_json,
                    parts[4],
                )
            )
            return _new_tuple(EncodedLine, (line, time_us, targeting_key))
        except EncodingError:
            raise
        except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
            raise EncodingError(str(exc)) from exc

    def encode_gated(self, record: tuple[Any, ...]) -> EncodedLine | None:
        """:meth:`encode` after the privacy and volume gate: ``None`` when the gate kept the
        event out (and counted it).  Used instead of :meth:`encode` only when a gate is set.

        :raises EncodingError: as :meth:`encode`.
        """
        gate = self._gate
        assert gate is not None
        if not gate.decide(record):
            return None
        line = self.encode(gate.rewrite(record))
        gate.logged()  # only now: an event that failed to encode takes no exposure slot
        return line

    def encode_decided(self, record: tuple[Any, ...]) -> EncodedLine:
        """:meth:`encode` of a record the gate already let through (a copy of it with odd
        values degraded, encoded again): the policies and hashing apply, the decision is not
        taken twice.

        :raises EncodingError: as :meth:`encode`.
        """
        gate = self._gate
        assert gate is not None
        line = self.encode(gate.rewrite(record))
        gate.logged()
        return line

    def build(self, record: tuple[Any, ...]) -> tuple[Row, int]:
        """The row for *record* and its event time in microseconds.

        :raises EncodingError: when a user value cannot be encoded; the caller drops the event.
        """
        if record[capture.KIND] == capture.TRACK:
            return self._track(record)
        return self._evaluation(record)

    # -- evaluations ------------------------------------------------------------------------

    def _remember(
        self,
        record: tuple[Any, ...],
        key: tuple[Any, ...],
        outcomes: list[tuple[tuple[Any, ...], tuple[bytes, ...] | None]] | None,
    ) -> tuple[bytes, ...] | None:
        """Build the line parts for a new flag outcome and keep them (bounded)."""
        parts = line_parts(self._evaluation(record)[0])
        if outcomes is None:
            if len(self._lines) >= _MAX_FLAGS:
                self._lines.clear()
            outcomes = self._lines[record[capture.FLAG_KEY]] = []
        elif len(outcomes) >= _MAX_OUTCOMES:
            del outcomes[0]
        outcomes.append((key, parts))
        return parts

    def _context(self, attributes: Mapping[str, Any] | None) -> Mapping[str, Any]:
        if not attributes:
            return _EMPTY
        if self._filter is None:
            return attributes
        kept = self._filter(attributes)
        # A filtered copy of a rich mapping stays rich: its values still need normalising.
        return RichAttributes(kept) if type(attributes) is RichAttributes and type(kept) is dict else kept

    def _evaluation(self, record: tuple[Any, ...]) -> tuple[Row, int]:
        time_ns, attributes, default = (
            record[capture.TIME_NS],
            record[capture.CONTEXT_ATTRIBUTES],
            record[capture.DEFAULT_VALUE],
        )
        value, variant, reason = record[capture.VALUE], record[capture.VARIANT], record[capture.REASON]
        error_code, error_message = record[capture.ERROR_CODE], record[capture.ERROR_MESSAGE]
        flag_key, flag_type, metadata = (
            record[capture.FLAG_KEY],
            record[capture.FLAG_TYPE],
            record[capture.FLAG_METADATA],
        )
        provider, domain = record[capture.EVALUATION_PROVIDER_NAME], record[capture.EVALUATION_DOMAIN]
        targeting_key = record[capture.EVALUATION_TARGETING_KEY]
        context = self._context(attributes)
        event_id, timestamp = self._stamps.stamp(time_ns)
        flag_type_text = _text(flag_type)
        raw = RawEvaluation(
            provider=provider,
            flag_key=str(flag_key),
            flag_type=flag_type_text.lower() if flag_type_text else None,
            variant=_text(variant),
            reason=_text(reason),
            error_code=_text(error_code),
            flag_metadata=metadata if isinstance(metadata, Mapping) else {},
            attributes=context,
        )
        norm, metadata_json, details_json = self._normalize(raw)
        value_json, default_json = dumps(value), dumps(default)
        is_default_value = norm.is_default_value
        if is_default_value and raw.error_code is not None:
            # On error the SDK normally hands the caller the default, but not always (an async
            # type mismatch in openfeature-sdk 0.10 returns the flag's value): say what it got.
            is_default_value = value_json == default_json
        row = Row(
            event_id=event_id,
            kind=KIND_EVALUATION,
            timestamp=timestamp,
            provider=raw.provider,
            vendor=norm.vendor,
            domain=domain,
            targeting_key=_text(targeting_key),
            context_kind=norm.context_kind,
            context=attributes_json(context),
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
            sample_rate=self._gate.flag_rate(record[capture.FLAG_KEY]) if self._gate is not None else None,
            hash_key_id=self._hash_key_id,
            **self._source_columns,
        )
        return row, time_ns // 1000

    def _normalize(self, raw: RawEvaluation) -> tuple[Normalized, str, str]:
        try:
            key: tuple[Any, ...] | None = (
                raw.provider,
                raw.flag_key,
                raw.flag_type,
                raw.variant,
                raw.reason,
                raw.error_code,
                attribute_kind(raw.attributes),
                _metadata_key(raw.flag_metadata),
            )
            hit = self._normalized.get(key)  # type: ignore[arg-type]
        except TypeError:  # unhashable metadata values: skip the cache
            key, hit = None, None
        if hit is not None:
            return hit
        norm = normalize(raw)
        entry = (norm, dumps(norm.flag_metadata), dumps(norm.vendor_details))
        if key is not None:
            if len(self._normalized) >= _MAX_FLAGS:
                self._normalized.clear()
            self._normalized[key] = entry
        return entry

    # -- track events -----------------------------------------------------------------------

    def _track(self, record: tuple[Any, ...]) -> tuple[Row, int]:
        _, time_ns, attributes, event_name, provider, domain, targeting_key, value, track_attributes = record
        context = self._context(attributes)
        event_id, timestamp = self._stamps.stamp(time_ns)
        row = Row(
            event_id=event_id,
            kind=KIND_TRACK,
            timestamp=timestamp,
            provider=provider,
            vendor=vendor_for(provider),
            domain=domain,
            targeting_key=_text(targeting_key),
            context_kind=attribute_kind(context),
            context=attributes_json(context),
            event_name=_text(event_name),
            metric_value=_metric(value),
            attributes=attributes_json(track_attributes),
            sample_rate=self._gate.track_rate if self._gate is not None else None,
            hash_key_id=self._hash_key_id,
            **self._source_columns,
        )
        return row, time_ns // 1000
