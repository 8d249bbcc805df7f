"""Cheap copies of application values, taken on the caller's thread.

An event waits in the queue for up to a few seconds.  If it held a reference to the app's own
dict (an object flag value, a context attribute map), a later mutation by the app would change
the event after the fact.  Scalars are immutable and shared as they are; containers are copied
recursively.  Anything exotic is kept as a reference: the worker encodes it with ``str()``.

The copy of a context also tells the worker, for free, how it may be encoded: a plain ``dict``
holds only JSON scalars (str, int, bool, None, finite floats), which the C encoder writes
exactly as the schema says; a :class:`RichAttributes` holds something else (datetimes, nested
containers, NaN, objects), which goes through the normalising encoder.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

_IMMUTABLE = frozenset({str, int, float, bool, type(None), dt.datetime, dt.date})
_PLAIN = frozenset({str, int, bool, type(None)})
_MAX_DEPTH = 32


class RichAttributes(dict[str, Any]):
    """A copied attribute mapping with values beyond JSON scalars (see the module docstring)."""

    __slots__ = ()


_MEMO_DEPTH = 4  # below this, copy without bookkeeping: contexts are shallow


def snapshot(value: Any, _depth: int = 0, _memo: dict[int, Any] | None = None) -> Any:
    """Return *value* with every dict/list/set/tuple inside it copied.

    Past a few levels a container met twice is copied once (as :func:`copy.deepcopy` does), so
    a cycle stays a cycle, which the encoder then cuts with a ``"<cycle>"`` marker, instead of
    being unrolled 32 levels deep.  Shallow values, nearly all of them, skip that bookkeeping.
    """
    cls = type(value)
    if cls in _IMMUTABLE or _depth > _MAX_DEPTH:
        # Past the depth limit we stop copying; the encoder cuts such values anyway.
        return value
    is_dict = cls is dict or isinstance(value, dict)
    if not is_dict and cls is not list and cls is not tuple:
        return frozenset(value) if cls is set or cls is frozenset else value
    depth = _depth + 1
    if _memo is None and _depth < _MEMO_DEPTH:
        if is_dict:
            return {k: v if type(v) in _IMMUTABLE else snapshot(v, depth) for k, v in value.items()}
        return [v if type(v) in _IMMUTABLE else snapshot(v, depth) for v in value]
    memo = {} if _memo is None else _memo
    seen = memo.get(id(value))
    if seen is not None:
        return seen
    if not is_dict:
        items: list[Any] = []
        memo[id(value)] = items
        items.extend(v if type(v) in _IMMUTABLE else snapshot(v, depth, memo) for v in value)
        return items
    copy: dict[Any, Any] = {}
    memo[id(value)] = copy
    for k, v in value.items():
        copy[k] = v if type(v) in _IMMUTABLE else snapshot(v, depth, memo)
    return copy


def snapshot_attributes(attributes: Any) -> dict[str, Any] | None:
    """Copy an evaluation-context attribute mapping: a ``dict`` when every value is a JSON
    scalar (the common case, kept cheap), else a :class:`RichAttributes`."""
    if not attributes:
        return None
    for value in attributes.values():
        kind = type(value)
        if kind not in _PLAIN and not (kind is float and value - value == 0.0):  # NaN, ±inf: rich
            return RichAttributes(snapshot(dict(attributes)))
    return dict(attributes)
