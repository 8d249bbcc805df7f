"""What of the evaluation context and track attributes is written: allow, deny and hash lists
by dotted path, vendor private attributes, and keyed hashing of the targeting key.

Applied on the worker thread, so a policy costs the caller's thread nothing.  The targeting key
is always kept, in clear or hashed with :class:`Hashing`: it is the unit of analysis of an
experiment, and a keyed hash keeps it joinable.  See docs/privacy.md.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import attrs

from ._hashing import Hasher, key_id_for
from ._paths import Tree, compile_paths, keep, replace

PRIVATE_ATTRIBUTES_KEY = "privateAttributes"
"""LaunchDarkly's convention (honoured by its OpenFeature provider) for attributes to redact."""

_MIN_SECRET_BYTES = 16


def _names(values: Collection[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


def _paths(values: Collection[str]) -> frozenset[str]:
    return frozenset(values)


@attrs.frozen(slots=True)
class ContextPolicy:
    """Which attributes reach the exported ``context`` (or, as ``attributes_policy``, the track
    event's ``attributes``) column, and which are hashed.

    Every list takes attribute names or dotted paths into nested values (``"address.city"``);
    a path that meets a list applies to every object in it.  A name with dots also matches a
    top-level key spelt that way.

    :param allow: paths to keep; ``None`` keeps every attribute.
    :param deny: paths always removed (wins over *allow*).
    :param honour_private_attributes: also remove the attributes a context lists under
        ``privateAttributes`` (LaunchDarkly's convention; ``"/address/street"`` style references
        remove nested keys), and the list itself.
    :param hashed: paths whose values are replaced by their HMAC-SHA256 (hex) under the
        exporter's :class:`Hashing` key; a string is hashed as its text, anything else as its
        JSON.  Needs ``EventExporter(hashing=...)``.

    .. versionadded:: 0.1.0
    """

    allow: frozenset[str] | None = attrs.field(default=None, converter=_names)
    deny: frozenset[str] = attrs.field(default=frozenset(), converter=_paths)
    honour_private_attributes: bool = True
    hashed: frozenset[str] = attrs.field(default=frozenset(), converter=_paths)
    _allow_tree: Tree | None = attrs.field(init=False, eq=False, repr=False)
    _deny_tree: Tree = attrs.field(init=False, eq=False, repr=False)
    _hash_tree: Tree = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_allow_tree", None if self.allow is None else compile_paths(self.allow))
        object.__setattr__(self, "_deny_tree", compile_paths(self.deny))
        object.__setattr__(self, "_hash_tree", compile_paths(self.hashed))

    @property
    def is_noop(self) -> bool:
        """True when the policy keeps every attribute of every context as it is."""
        return self.allow is None and not self.deny and not self.honour_private_attributes and not self.hashed

    def apply(self, attributes: Mapping[str, Any], hasher: Hasher | None = None) -> Mapping[str, Any]:
        """The attributes to export (the input is returned as is when nothing changes).

        :param hasher: hashes the *hashed* paths (the exporter passes its own); without one,
            hashed paths are removed rather than written in clear.
        """
        private = attributes.get(PRIVATE_ATTRIBUTES_KEY) if self.honour_private_attributes else None
        if self._allow_tree is None and not self.deny and private is None and not self.hashed:
            return attributes
        kept: Mapping[str, Any] = attributes
        if self._allow_tree is not None:
            kept = keep(kept, self._allow_tree)
        if self._deny_tree:
            kept = replace(kept, self._deny_tree, None)
        if private is not None:
            kept = dict(kept)
            kept.pop(PRIVATE_ATTRIBUTES_KEY, None)
            if isinstance(private, (list, tuple)):
                for reference in private:
                    if isinstance(reference, str):
                        _remove(kept, reference)
        if self._hash_tree:
            kept = replace(kept, self._hash_tree, None if hasher is None else hasher.value)
        return kept


def _remove(attributes: dict[str, Any], reference: str) -> None:
    """Remove a plain name or a ``/a/b`` attribute reference (copying the dicts it touches)."""
    if not reference.startswith("/"):
        attributes.pop(reference, None)
        return
    path = [p.replace("~1", "/").replace("~0", "~") for p in reference[1:].split("/")]
    node = attributes
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, Mapping):
            return
        node[part] = child = dict(child)  # the snapshot may be shared with other rows' caches
        node = child
    node.pop(path[-1], None)


def _secret(value: str | bytes) -> bytes:
    secret = value.encode() if isinstance(value, str) else bytes(value)
    if len(secret) < _MIN_SECRET_BYTES:
        raise ValueError(
            f"the hashing secret must be at least {_MIN_SECRET_BYTES} bytes (32 random bytes are "
            "best: python -c 'import secrets; print(secrets.token_hex(32))'); a short one can be guessed"
        )
    return secret


@attrs.frozen(slots=True)
class Hashing:
    """The secret for keyed hashing (HMAC-SHA256) of targeting keys and ``hashed`` attributes.

    The secret is never logged and never shown by ``repr``; keep it in a secret store, and keep
    it stable: the same secret gives the same digest for the same value in every process, so
    hashed keys still join.  Every row records the key's id in ``hash_key_id``, so a rotated
    key is visible in the data (digests under two ids do not join).

    :param secret: at least 16 bytes (text is taken as UTF-8).
    :param key_id: written to every row's ``hash_key_id``; by default ``k-`` and 8 hex digits
        derived from the secret.  Name your keys (``"2026-11"``) to make rotation readable.
    :param targeting_key: hash the targeting key column too (default); with ``False`` only the
        ``hashed`` attribute paths of the policies are hashed.

    .. versionadded:: 0.1.0
    """

    secret: bytes = attrs.field(converter=_secret, repr=False)
    key_id: str = attrs.field(default=attrs.Factory(lambda self: key_id_for(self.secret), takes_self=True))
    targeting_key: bool = True

    def hasher(self) -> Hasher:
        """A new :class:`~openfeature_s3_export._hashing.Hasher` with this secret (one per worker)."""
        return Hasher(self.secret)
