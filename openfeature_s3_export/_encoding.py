"""Turning arbitrary application values into JSON, and rows into NDJSON lines.

Everything here runs on the worker thread.  Evaluation contexts and track attributes are user
data: they may hold datetimes, decimals, bytes, sets, enums, custom objects, NaN, cycles or
lone surrogates.  Known types get a stable JSON form; anything that still cannot be encoded
raises :class:`EncodingError`, which the pipeline turns into a counted drop of that one event.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
import json
import math
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple

from .schema import Row

MAX_DEPTH = 32
"""Deeper nesting than this is treated as unserialisable (it also catches reference cycles)."""

_SCALARS = (str, bool, int)


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
    """Compact JSON text of *value* after :func:`to_json_value`.

    :raises EncodingError: when the value cannot be encoded.
    """
    try:
        return json.dumps(to_json_value(value), ensure_ascii=False, separators=(",", ":"))
    except EncodingError:
        raise
    except Exception as exc:  # user mappings and objects can raise anything (items(), __iter__, ...)
        raise EncodingError(f"{type(exc).__name__}: {exc}") from exc


def encode_row(row: Row, timestamp_us: int) -> EncodedLine:
    """Encode *row* as one newline-terminated UTF-8 JSON line.

    :raises EncodingError: when the row holds text that is not valid Unicode (lone
        surrogates) or a non-finite ``metric_value``, either of which would otherwise produce a
        line no reader accepts.
    """
    try:
        # allow_nan=False: a NaN metric_value would otherwise be written as a bare NaN, which is
        # not JSON, and the line would break every reader of the file.
        text = json.dumps(row.to_dict(), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        data = text.encode("utf-8") + b"\n"
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise EncodingError(str(exc)) from exc
    return EncodedLine(data, timestamp_us, row.targeting_key)
