"""Turning rows into bytes: the only place.  User values into JSON text, rows into NDJSON lines.

Everything here runs on the worker thread.  JSON is written by orjson (C, about 10x faster
than the standard library), always on values whose JSON form is already fixed: JSON scalars,
or the output of :func:`to_json_value`.  The standard library is the fallback for the two
things orjson refuses and the schema allows (integers beyond 64 bits) or reports differently
(text that is not valid Unicode, which then fails as :class:`EncodingError`).

Evaluation contexts and track attributes are user data: they may hold datetimes, decimals,
bytes, sets, enums, custom objects, NaN, cycles or lone surrogates.  Known types get a stable
JSON form; anything that still cannot be encoded raises :class:`EncodingError`.  The worker
then encodes the event again through :func:`degrade`, which replaces each odd value by a marker
and counts why, so that one value never costs the whole event.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
import json
import math
import uuid
from collections import Counter
from collections.abc import Mapping
from operator import itemgetter
from typing import Any, Final, NamedTuple

import attrs
import orjson

from .schema import Row

MAX_DEPTH = 32
"""Deeper nesting than this is treated as unserialisable (it also catches reference cycles)."""

_SCALARS = (str, bool, int)
# Types whose orjson output is exactly the schema's JSON form (floats are not: NaN and inf).
_PLAIN = frozenset({str, int, bool, type(None)})
_orjson = orjson.dumps


class EncodedLine(NamedTuple):
    """One row encoded as a newline-terminated UTF-8 JSON line, with what sinks route it by.

    Sinks receive sequences of these: the pipeline has already validated and size-checked every
    one, so a sink never meets a row it cannot write.  A named tuple because one is built per
    event on the worker thread.

    .. versionadded:: 0.1.0
    """

    data: bytes
    """UTF-8 JSON of the row (:class:`~openfeature_s3_export.Row` columns), ending in ``b"\\n"``."""
    timestamp_us: int
    """Event time in microseconds since the epoch (UTC): the event-time partition."""
    routing_key: str | None
    """The row's targeting key: sinks that shard (Kinesis) keep one user's rows together."""


line_data: Any = itemgetter(0)
"""``line_data(line)``: an :class:`EncodedLine`'s ``data``, as a C call for ``map`` over a batch."""
line_timestamp: Any = itemgetter(1)
"""``line_timestamp(line)``: an :class:`EncodedLine`'s ``timestamp_us``, likewise."""


class EncodingError(ValueError):
    """A value could not be turned into JSON; the event carrying it is dropped and counted."""


def to_json_value(value: Any, _depth: int = 0) -> Any:
    """Return a JSON-compatible copy of *value*.

    Datetimes become RFC 3339 strings (naive ones are taken as UTC), dates ISO dates,
    decimals and UUIDs strings, bytes base64, sets sorted lists, enums their value, and
    non-finite floats the strings ``"NaN"``/``"Infinity"``/``"-Infinity"`` (strict JSON has no
    literal for them).  Other objects are encoded with ``str()``.

    :raises EncodingError: for nesting deeper than :data:`MAX_DEPTH` (or a cycle), or an
        object whose ``str()`` raises.
    """
    if value is None or isinstance(value, _SCALARS):
        if isinstance(value, enum.Enum):
            return to_json_value(value.value, _depth + 1)
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if _depth >= MAX_DEPTH:
        raise EncodingError(f"value nested deeper than {MAX_DEPTH} levels (or a cycle)")
    if isinstance(value, Mapping):
        return {_key(k): to_json_value(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, _depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [to_json_value(v, _depth + 1) for v in value]
        # Sets have no order; sort on the encoded form so equal sets give equal JSON.
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        try:
            return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
        except OverflowError:  # datetime.max/min in a non-UTC zone has no UTC equivalent
            return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, enum.Enum):
        return to_json_value(value.value, _depth + 1)
    try:
        return str(value)
    except Exception as exc:  # a user object's __str__ can do anything
        raise EncodingError(f"cannot encode {type(value).__name__}: {exc!r}") from exc


def _key(key: Any) -> str:
    """A mapping key as JSON object key text (``str()``, which a user object may make raise)."""
    if type(key) is str:
        return key
    try:
        return str(key)
    except Exception as exc:
        raise EncodingError(f"cannot encode mapping key of type {type(key).__name__}: {exc!r}") from exc


def dumps(value: Any) -> str:
    """Compact JSON text of any user value, in the form :func:`to_json_value` gives it.

    :raises EncodingError: when the value cannot be encoded.
    """
    if type(value) in _PLAIN:
        try:
            return _orjson(value).decode()
        except orjson.JSONEncodeError:
            pass  # an int beyond 64 bits or a lone surrogate: the general path decides
    try:
        normalized = to_json_value(value)
    except EncodingError:
        raise
    except Exception as exc:  # user mappings and objects can raise anything (items(), __iter__, ...)
        raise EncodingError(f"{type(exc).__name__}: {exc}") from exc
    return _dumps_normalized(normalized)


def _dumps_normalized(value: Any) -> str:
    try:
        return _orjson(value).decode()
    except orjson.JSONEncodeError:
        # orjson refuses integers beyond 64 bits, which JSON allows, and lone surrogates: the
        # standard library writes both, and a surrogate then fails when the line is encoded.
        try:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        except ValueError as exc:  # an integer past Python's int-to-text digit limit
            raise EncodingError(str(exc)) from exc


def attributes_json(attributes: Mapping[str, Any] | None) -> str:
    """JSON text of a context or track attribute mapping copied by the capture (``{}`` for none).

    A plain ``dict`` copy holds JSON scalars only (:mod:`._snapshot`), so orjson writes it
    directly; anything else goes through :func:`to_json_value`.

    :raises EncodingError: when a value cannot be encoded.
    """
    if not attributes:
        return "{}"
    if type(attributes) is dict:
        try:
            return _orjson(attributes).decode()
        except (orjson.JSONEncodeError, TypeError):
            pass  # non-string keys, huge ints, lone surrogates: the general path decides
    return dumps(attributes)


def encode_row(row: Row, timestamp_us: int) -> EncodedLine:
    """Encode *row* as one newline-terminated UTF-8 JSON line.

    :raises EncodingError: when the row holds text that is not valid Unicode (lone
        surrogates) or a non-finite ``metric_value``, either of which would otherwise produce a
        line no reader accepts.
    """
    metric = row.metric_value
    if metric is not None and not math.isfinite(metric):
        # orjson would write null; a number that is not one is an error in the data, not a gap.
        raise EncodingError(f"metric_value {metric!r} is not a finite number")
    try:
        data = _orjson(row.to_dict(), option=orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError as exc:
        raise EncodingError(str(exc)) from exc
    return EncodedLine(data, timestamp_us, row.targeting_key)


# Stand-ins for the columns that differ between evaluations of one flag with one outcome.
_EVENT_ID: Final = "\x00event_id\x00"
_TIMESTAMP: Final = "\x00timestamp\x00"
_TARGETING_KEY: Final = "\x00targeting_key\x00"
_CONTEXT: Final = "\x00context\x00"


def line_parts(row: Row) -> tuple[bytes, bytes, bytes, bytes, bytes] | None:
    """The constant bytes around the four columns that change from one evaluation to the next.

    Every evaluation of one flag with one outcome has the same line except for ``event_id``,
    ``timestamp``, ``targeting_key`` and ``context``.  The line is::

        parts[0] + event_id + parts[1] + timestamp + parts[2] + json_string(targeting_key) or
        b"null" + parts[3] + json_string(context_json) + parts[4]

    which is byte for byte :func:`encode_row` of the full row (``tests/test_rows.py`` checks),
    with :func:`json_string` quoting as the row encoder does.  ``None`` when a user value
    happens to contain one of the stand-ins: encode such rows whole.

    :raises EncodingError: as :func:`encode_row`.
    """
    probe = attrs.evolve(
        row, event_id=_EVENT_ID, timestamp=_TIMESTAMP, targeting_key=_TARGETING_KEY, context=_CONTEXT
    )
    data = encode_row(probe, 0).data
    markers = (
        json_string(_EVENT_ID)[1:-1],
        json_string(_TIMESTAMP)[1:-1],
        json_string(_TARGETING_KEY),
        json_string(_CONTEXT),
    )
    if any(data.count(marker) != 1 for marker in markers):
        return None
    head, rest = data.split(markers[0])
    middle, rest = rest.split(markers[1])
    before_key, rest = rest.split(markers[2])
    before_context, tail = rest.split(markers[3])
    return head, middle, before_key, before_context, tail


json_string: Any = orjson.dumps
"""``json_string(text)``: *text* as a UTF-8 JSON string literal, quotes included, escaped as
the row encoder escapes it (raises ``orjson.JSONEncodeError``, a ``TypeError``, for text that is
not valid Unicode)."""


# -- the fallback path: odd values degrade, events stay ----------------------------------------

DEGRADED_SURROGATE: Final = "surrogate"
"""Degradation: text held a lone surrogate (not valid Unicode); it became U+FFFD."""
DEGRADED_CYCLE: Final = "cycle"
"""Degradation: a container held itself; the inner reference became :data:`CYCLE_MARKER`."""
DEGRADED_TOO_DEEP: Final = "too_deep"
"""Degradation: nesting past :data:`MAX_DEPTH` was cut at :data:`TOO_DEEP_MARKER`."""
DEGRADED_UNENCODABLE: Final = "unencodable"
"""Degradation: an object whose ``str()`` (or ``items()``, iteration) raised became a marker
naming its type, ``"<unencodable TYPE>"``."""
DEGRADED_TRUNCATED: Final = "truncated"
"""Degradation: a value over ``max_value_bytes`` was cut, ending in ``"...<truncated>"``."""
DEGRADED_NOT_A_NUMBER: Final = "not_a_number"
"""Degradation: a track value that is not a finite number was exported as ``null``."""

CYCLE_MARKER: Final = "<cycle>"
TOO_DEEP_MARKER: Final = "<too deep>"
TRUNCATED_MARKER: Final = "...<truncated>"


class _Budget:
    """The bytes one value may still take (roughly its JSON size), and the reasons counted."""

    __slots__ = ("left", "reasons")

    def __init__(self, left: int, reasons: Counter[str]) -> None:
        self.left = left
        self.reasons = reasons


def degrade(value: Any, reasons: Counter[str], max_bytes: int, depth: int = 0) -> Any:
    """A JSON-compatible copy of *value* in which nothing can fail to encode.

    The form of :func:`to_json_value`, except that each problem becomes a marker and one count
    in *reasons* (keys ``DEGRADED_*``): lone surrogates become U+FFFD, a cycle
    :data:`CYCLE_MARKER`, nesting past :data:`MAX_DEPTH` :data:`TOO_DEEP_MARKER`, an object that
    cannot be turned into text ``"<unencodable TYPE>"``, and text or containers past *max_bytes*
    (about their JSON size) are cut, ending in :data:`TRUNCATED_MARKER`.  *depth* is how deep
    *value* already sits (1 for a value of an attribute mapping).  Never raises.
    """
    return _degrade(value, _Budget(max_bytes, reasons), depth, set())


def _unencodable(value: Any, budget: _Budget) -> str:
    budget.reasons[DEGRADED_UNENCODABLE] += 1
    try:
        name = type(value).__name__
    except Exception:
        name = "object"
    return _text(f"<unencodable {name}>", budget)


def _text(value: str, budget: _Budget) -> str:
    """*value* as valid Unicode text within the budget."""
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        budget.reasons[DEGRADED_SURROGATE] += 1
        # utf-16 with surrogatepass joins well-formed pairs and turns lone halves into U+FFFD.
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
        data = value.encode("utf-8")
    if len(data) + 2 > budget.left:
        budget.reasons[DEGRADED_TRUNCATED] += 1
        keep = max(budget.left - 2 - len(TRUNCATED_MARKER), 0)
        value = data[:keep].decode("utf-8", "ignore") + TRUNCATED_MARKER
        budget.left = 0
        return value
    budget.left -= len(data) + 2
    return value


def _degrade(value: Any, budget: _Budget, depth: int, ancestors: set[int]) -> Any:
    if value is None or type(value) is bool:
        budget.left -= 5
        return value
    if isinstance(value, enum.Enum):
        try:
            inner = value.value
        except Exception:
            return _unencodable(value, budget)
        return _degrade(inner, budget, depth + 1, ancestors)
    if isinstance(value, str):
        return _text(str.__str__(value), budget)
    if isinstance(value, int):
        if value.bit_length() > 10_000:  # past Python's int-to-text digit limit
            budget.reasons[DEGRADED_TRUNCATED] += 1
            return TRUNCATED_MARKER
        budget.left -= 8
        return int(value)
    if isinstance(value, float):
        budget.left -= 8
        return to_json_value(float(value))
    if depth >= MAX_DEPTH:
        budget.reasons[DEGRADED_TOO_DEEP] += 1
        return TOO_DEEP_MARKER
    is_container = isinstance(value, (Mapping, list, tuple, set, frozenset))
    if is_container:
        if id(value) in ancestors:
            budget.reasons[DEGRADED_CYCLE] += 1
            return CYCLE_MARKER
        ancestors.add(id(value))
        try:
            return _container(value, budget, depth, ancestors)
        except Exception:  # a user mapping's items() or a list subclass's __iter__ raised
            return _unencodable(value, budget)
        finally:
            ancestors.discard(id(value))
    try:
        known = to_json_value(value)  # datetimes, decimals, bytes, ...: their usual form
    except Exception:
        return _unencodable(value, budget)
    if isinstance(known, str):
        return _text(known, budget)
    budget.left -= 8
    return known


def _container(value: Any, budget: _Budget, depth: int, ancestors: set[int]) -> Any:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if budget.left <= 0:
                budget.reasons[DEGRADED_TRUNCATED] += 1
                out[TRUNCATED_MARKER] = None
                break
            try:
                text = key if type(key) is str else _key(key)
            except EncodingError:
                text = _unencodable(key, budget)
            text = _text(text, budget)
            out[text] = _degrade(item, budget, depth + 1, ancestors)
        return out
    items: list[Any] = []
    for item in value:
        if budget.left <= 0:
            budget.reasons[DEGRADED_TRUNCATED] += 1
            items.append(TRUNCATED_MARKER)
            break
        items.append(_degrade(item, budget, depth + 1, ancestors))
    if isinstance(value, (set, frozenset)):
        items.sort(key=lambda v: json.dumps(v, sort_keys=True))
    return items
