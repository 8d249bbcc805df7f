"""Encoding an event again when one of its values is odd, instead of dropping it.

The worker encodes every capture record the fast way first (:mod:`._rows`).  Only when that
fails (a lone surrogate, a cycle, a list nested 5,000 deep, an object whose ``str()`` raises, a
track value that is not a number) or the line is larger than ``max_value_bytes`` does it come
here: every user value of the record is replaced by its :func:`~._encoding.degrade` copy, each
change counted by reason, and the record is encoded again.  The fast path pays nothing for this.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from . import _capture as capture
from ._encoding import DEGRADED_NOT_A_NUMBER, EncodedLine, degrade

# Fields that are not user values: the record kind and the capture time.
_FIXED = 2


class Degrader:
    """``degrader(record) -> (line, reasons)``: *encode* of a copy of *record* whose values
    cannot fail, and how many values were changed, by reason (empty when none was).

    Each value (each attribute of a context or track attribute mapping, and each other field)
    may take at most *max_value_bytes*; longer ones are truncated.
    """

    def __init__(self, encode: Callable[[tuple[Any, ...]], EncodedLine], max_value_bytes: int) -> None:
        self._encode = encode
        self._max = max_value_bytes

    def __call__(self, record: tuple[Any, ...]) -> tuple[EncodedLine, Mapping[str, int]]:
        """Encode *record* with its odd values degraded (raises only on a bug)."""
        reasons: Counter[str] = Counter()
        fields = list(record)
        track = record[capture.KIND] == capture.TRACK
        mappings = (
            (capture.CONTEXT_ATTRIBUTES, capture.ATTRIBUTES) if track else (capture.CONTEXT_ATTRIBUTES,)
        )
        for index in range(_FIXED, len(fields)):
            value = fields[index]
            if track and index == capture.METRIC_VALUE:
                fields[index] = _metric(value, reasons)
            elif index in mappings and isinstance(value, Mapping):
                fields[index] = self._mapping(value, reasons)
            else:
                fields[index] = degrade(value, reasons, self._max)
        return self._encode(tuple(fields)), reasons

    def _mapping(self, attributes: Mapping[Any, Any], reasons: Counter[str]) -> Any:
        """An attribute mapping, each attribute with a budget of its own."""
        try:
            items = list(attributes.items())
        except Exception:
            return degrade(attributes, reasons, self._max)  # counted as unencodable there
        # Values sit one level down, as the plain encoder counts depth.
        return {
            degrade(key if isinstance(key, str) else _key_text(key), reasons, self._max): degrade(
                value, reasons, self._max, 1
            )
            for key, value in items
        }


def _key_text(key: Any) -> Any:
    try:
        return str(key)
    except Exception:
        return key  # degrade() names its type


def _metric(value: Any, reasons: Counter[str]) -> float | None:
    """A track value as a finite number, or ``None`` (counted) when it is not one."""
    if value is None:
        return None
    try:
        metric = float(value)
    except Exception:
        metric = math.nan
    if not math.isfinite(metric):
        reasons[DEGRADED_NOT_A_NUMBER] += 1
        return None
    return metric
