"""``ContextMiddleware``: puts the request's evaluation context on ``request.openfeature_context``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse

from ._state import request_context


class ContextMiddleware:
    """Sets ``request.openfeature_context`` for the views (synchronous middleware).

    .. versionadded:: 0.2.0
    """

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Attach the context, then hand the request on."""
        request.openfeature_context = request_context(request)  # type: ignore[attr-defined]
        response: HttpResponse = self.get_response(request)
        return response
