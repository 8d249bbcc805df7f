"""Keyed hashing (HMAC-SHA256) of targeting keys and attribute values, on the worker thread.

A keyed hash, not a plain one: a targeting key is often guessable (an e-mail, a sequential id),
and an unkeyed SHA-256 of it is reversed by hashing the candidates.  The same input gives the
same digest with the same secret in every process, so hashed keys still join evaluations with
track events and across services.
"""

from __future__ import annotations

import hmac
from typing import Any

import orjson

from ._encoding import to_json_value

_CACHE_SIZE = 65_536  # digests kept per hasher: a busy user's key is hashed once, not per event


class Hasher:
    """HMAC-SHA256 digests (lower-case hex) under one secret (worker thread only)."""

    __slots__ = ("_cache", "_secret", "calls")

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._cache: dict[str, str] = {}
        self.calls = 0
        """Values hashed so far (for counting the events that had something hashed)."""

    def __repr__(self) -> str:
        return "Hasher(secret=<hidden>)"

    def text(self, text: str) -> str:
        """The digest of *text*'s UTF-8 bytes."""
        self.calls += 1
        digest = self._cache.get(text)
        if digest is None:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            # surrogatepass: text that is not valid Unicode still gets a digest, not an error
            raw = text.encode("utf-8", "surrogatepass")
            digest = self._cache[text] = hmac.digest(self._secret, raw, "sha256").hex()
        return digest

    def value(self, value: Any) -> str:
        """The digest of an attribute value: a string's own text (so a hashed e-mail attribute
        equals the hashed targeting key that is the same e-mail), anything else its JSON text
        with sorted keys (so equal objects give equal digests).

        :raises EncodingError: when the value has no JSON form (the event is dropped).
        """
        if type(value) is str:
            return self.text(value)
        normalized = to_json_value(value)
        try:
            text = orjson.dumps(normalized, option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONEncodeError:  # integers beyond 64 bits, lone surrogates
            import json

            text = json.dumps(normalized, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return self.text(text)


def key_id_for(secret: bytes) -> str:
    """A short id derived from *secret* for rows to name the key they were hashed with, when
    the user gives none: 8 hex digits of a keyed hash of a fixed label, which says which key
    was used without helping to find it."""
    return "k-" + hmac.digest(secret, b"openfeature-s3-export key id", "sha256").hex()[:8]
