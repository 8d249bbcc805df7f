"""Odd items: encoding them again with their odd values degraded, and dropping (counted) only
what even that cannot save.  The worker's slow path; the normal path never comes here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from .._counters import drop_key
from .._encoding import EncodedLine, EncodingError, line_data
from .._log import RateLimitedLog
from ._limits import Limits

DROP_UNSERIALIZABLE: Final = "unserializable"
"""Drop reason: an item could not be encoded even with its odd values degraded (a bug)."""
DROP_TOO_LARGE: Final = "too_large"
"""Drop reason: an encoded event larger than ``max_event_bytes`` after truncation."""

Rescue = Callable[[Any], "tuple[EncodedLine, Mapping[str, int]]"]
"""``rescue(item) -> (line, degradations)``: encode an item the plain ``encode`` failed on (or
made too large) with its odd values degraded, and say which, by reason (counted as
``degraded.<reason>``).  Raises only when even that fails; the item is then dropped."""


class OddLines:
    """What the worker does with an item that did not encode, or encoded too large."""

    def __init__(
        self,
        encode: Callable[[Any], EncodedLine | None],
        rescue: Rescue | None,
        limits: Limits,
        count: Callable[[str, int], None],
        log: RateLimitedLog,
    ) -> None:
        self._encode = encode
        self._rescue = rescue
        self._limits = limits
        self._count = count
        self._log = log
        value_limit = limits.max_value_bytes if rescue is not None else None
        self.check_above = min(limits.max_event_bytes, value_limit or limits.max_event_bytes)
        """Lines above this size are looked at again (the worker measures every size anyway)."""

    def encode_each(self, items: list[Any]) -> tuple[list[EncodedLine], list[Any]]:
        """Encode *items* one by one: an odd one through the rescue, dropped (and counted) only
        when even that fails.  Returns the lines and the items they came from."""
        lines: list[EncodedLine] = []
        kept: list[Any] = []
        for item in items:
            try:
                line: EncodedLine | None = self._encode(item)
            except Exception as exc:
                line = self._rescued(item, exc)
            if line is None:  # dropped (counted), or kept out on purpose by encode (counted there)
                continue
            lines.append(line)
            kept.append(item)
        return lines, kept

    def _rescued(self, item: Any, exc: Exception | None) -> EncodedLine | None:
        """*item* encoded with its odd values degraded (counted), or ``None`` (dropped, counted)."""
        if self._rescue is None:
            if exc is not None:
                self._reject(exc)
            return None
        try:
            line, reasons = self._rescue(item)
        except Exception as rescue_exc:  # a bug in the rescue: drop this one event, say why
            self._reject(rescue_exc)
            return None
        for reason, count in reasons.items():
            self._count(f"degraded.{reason}", count)
        if reasons:
            self._log.warning(
                "degraded",
                "event exported with odd values replaced by markers (%s); see stats()['degraded.*']",
                ", ".join(sorted(reasons)),
            )
        return line

    def shrink(
        self, items: list[Any], lines: list[EncodedLine], sizes: list[int]
    ) -> tuple[list[EncodedLine], list[int]]:
        """Truncate values over ``max_value_bytes``; drop what still exceeds ``max_event_bytes``."""
        limit = self._limits.max_event_bytes
        kept_lines: list[EncodedLine] = []
        kept_sizes: list[int] = []
        for item, line, size in zip(items, lines, sizes, strict=True):
            if size > self.check_above and self._rescue is not None:
                smaller = self._rescued(item, None)
                if smaller is not None:
                    line, size = smaller, len(line_data(smaller))
            if size > limit:
                self._drop(
                    DROP_TOO_LARGE, "event dropped: %d bytes encoded, max_event_bytes is %d", size, limit
                )
                continue
            kept_lines.append(line)
            kept_sizes.append(size)
        return kept_lines, kept_sizes

    def _reject(self, exc: Exception) -> None:
        if isinstance(exc, EncodingError):
            self._drop(DROP_UNSERIALIZABLE, "event dropped: %s", exc)
        else:  # hostile input (a __str__ that raises, ...) drops one event only
            self._drop(DROP_UNSERIALIZABLE, "event dropped: cannot build row: %r", exc)

    def _drop(self, reason: str, msg: str, *args: object) -> None:
        self._count(drop_key(reason), 1)
        self._log.warning(reason, msg, *args)
