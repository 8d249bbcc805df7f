"""Deterministic sampling by targeting key: the same unit is in or out everywhere.

Python's ``hash()`` of a string changes from one process to the next (``PYTHONHASHSEED``), so
the decision comes from BLAKE2b of the key instead: the same key gives the same position in
``[0, 1)`` in every process, on every machine, in every Python version.  A unit is kept when its
position is below the rate, so at a lower rate the kept units are a subset of those kept at a
higher one: per-flag rates keep each unit's exposures and track events consistent.
"""

from __future__ import annotations

import hashlib

_SCALE = float(1 << 64)
_CACHE_SIZE = 65_536


def position(key: str, salt: str = "") -> float:
    """Where *key* falls in ``[0, 1)`` (uniform over keys), the same in every process."""
    data = (salt + "\x00" + key).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") / _SCALE


class Sampler:
    """Keeps or drops units at a rate (worker thread only; positions cached, bounded)."""

    __slots__ = ("_cache", "_salt")

    def __init__(self, salt: str = "") -> None:
        self._salt = salt
        self._cache: dict[str, float] = {}

    def keeps(self, key: str, rate: float) -> bool:
        """Whether the unit *key* is in the sample at *rate*."""
        where = self._cache.get(key)
        if where is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            where = self._cache[key] = position(key, self._salt)
        return where < rate
