"""``RequestContext``: an :class:`EvaluationContext` from an HTTP request, holding only what
you name.

Every framework integration uses this one helper.  It reads the user id from one header or one
claim and copies only the attributes you list, each from a named header or claim.  It never
copies headers, cookies or the client's IP address wholesale: an exported context lands in
your data lake, and a blanket copy would ship session cookies and bearer tokens there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
from openfeature.evaluation_context import EvaluationContext

HeaderGetter = Callable[[str], "str | None"]


def _mapping(value: Mapping[str, str] | None) -> Mapping[str, str]:
    return dict(value or {})


@attrs.frozen
class RequestContext:
    """How to build a per-request :class:`EvaluationContext`.

    :param user_header: header holding the user id (the targeting key), for example
        ``"X-User-Id"``; ``None`` to read no header.
    :param user_claim: claim holding the user id, for example ``"sub"``; read from the claims
        mapping the framework integration is given (a decoded, *verified* token).  When both
        are set, the claim wins: a header can be forged by any client.
    :param header_attributes: attribute name → header name, for example
        ``{"country": "CloudFront-Viewer-Country"}``.  Only these headers are read.
    :param claim_attributes: attribute name → claim name, for example ``{"plan": "plan"}``.
    :param static_attributes: attributes added to every context (``{"app": "shop"}``).
    :param anonymous_key: targeting key when no user id is found; ``None`` leaves it unset.

    .. versionadded:: 0.2.0
    """

    user_header: str | None = "X-User-Id"
    user_claim: str | None = None
    header_attributes: Mapping[str, str] = attrs.field(factory=dict, converter=_mapping)
    claim_attributes: Mapping[str, str] = attrs.field(factory=dict, converter=_mapping)
    static_attributes: Mapping[str, Any] = attrs.field(factory=dict, converter=_mapping)
    anonymous_key: str | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None) -> RequestContext:
        """Build from a settings mapping with the parameter names as keys (any case)."""
        if not settings:
            return cls()
        fields = {f.name for f in attrs.fields(cls)}
        values = {str(k).lower(): v for k, v in settings.items()}
        unknown = set(values) - fields
        if unknown:
            raise ValueError(
                f"unknown request context setting(s) {sorted(unknown)}; expected some of {sorted(fields)}"
            )
        return cls(**values)

    def build(
        self,
        header: HeaderGetter,
        claims: Mapping[str, Any] | None = None,
    ) -> EvaluationContext:
        """The context for one request.

        :param header: looks a header up by name, case-insensitively (each framework's request
            headers object does), returning ``None`` when absent.
        :param claims: the request's verified claims, if any.
        """
        key: str | None = None
        if self.user_claim is not None and claims:
            claimed = claims.get(self.user_claim)
            key = None if claimed is None else str(claimed)
        if key is None and self.user_header is not None:
            key = header(self.user_header) or None
        if key is None:
            key = self.anonymous_key
        attributes: dict[str, Any] = dict(self.static_attributes)
        for name, header_name in self.header_attributes.items():
            value = header(header_name)
            if value is not None:
                attributes[name] = value
        if claims:
            for name, claim in self.claim_attributes.items():
                if claim in claims and claims[claim] is not None:
                    attributes[name] = claims[claim]
        return EvaluationContext(targeting_key=key, attributes=attributes)
