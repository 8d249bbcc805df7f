"""The page whose content comes from a flag, and the purchase that tracks a conversion."""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from openfeature import api
from openfeature.track import TrackingEventDetails

client = api.get_client()


@require_GET
def home(request: HttpRequest) -> JsonResponse:
    banner = client.get_string_value("home-banner", "Welcome", request.openfeature_context)  # type: ignore[attr-defined]
    return JsonResponse({"banner": banner, "worker": os.getpid()})


@csrf_exempt
@require_POST
def purchase(request: HttpRequest) -> JsonResponse:
    value = float(request.GET.get("value", "0"))
    client.track("purchase", request.openfeature_context, TrackingEventDetails(value=value))  # type: ignore[attr-defined]
    return JsonResponse({"ok": True, "worker": os.getpid()})


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")
