"""What of the evaluation context is written: allow and deny lists, vendor private attributes.

Applied on the worker thread, so a policy costs the caller's thread nothing.  The targeting key
is always kept: it is the unit of analysis of an experiment.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import attrs

PRIVATE_ATTRIBUTES_KEY = "privateAttributes"
"""LaunchDarkly's convention (honoured by its OpenFeature provider) for attributes to redact."""


def _names(values: Collection[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


@attrs.frozen(slots=True)
class ContextPolicy:
    """Which evaluation-context attributes reach the exported ``context`` column.

    :param allow: top-level attribute names to keep; ``None`` keeps every attribute.
    :param deny: top-level attribute names always removed (wins over *allow*).
    :param honour_private_attributes: also remove the attributes a context lists under
        ``privateAttributes`` (LaunchDarkly's convention; ``"/address/street"`` style references
        remove nested keys), and the list itself.

    .. versionadded:: 0.1.0
    """

    allow: frozenset[str] | None = attrs.field(default=None, converter=_names)
    deny: frozenset[str] = attrs.field(default=frozenset(), converter=frozenset)
    honour_private_attributes: bool = True

    @property
    def is_noop(self) -> bool:
        """True when the policy keeps every attribute of every context."""
        return self.allow is None and not self.deny and not self.honour_private_attributes

    def apply(self, attributes: Mapping[str, Any]) -> Mapping[str, Any]:
        """The attributes to export (the input is returned as is when nothing is removed)."""
        private = attributes.get(PRIVATE_ATTRIBUTES_KEY) if self.honour_private_attributes else None
        if self.allow is None and not self.deny and private is None:
            return attributes
        kept = {
            key: value
            for key, value in attributes.items()
            if (self.allow is None or key in self.allow) and key not in self.deny
        }
        if private is not None:
            kept.pop(PRIVATE_ATTRIBUTES_KEY, None)
            if isinstance(private, (list, tuple)):
                for reference in private:
                    if isinstance(reference, str):
                        _remove(kept, reference)
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
