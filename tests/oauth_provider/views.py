"""Test helpers of the provider: auto-login, a protected resource, token-endpoint counters."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

from django.contrib.auth import get_user_model, login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.decorators import protected_resource

COUNTS: Counter[str] = Counter()
CONFIG: dict[str, Any] = {"token_delay": 0.0}
_LOCK = threading.Lock()


class CountingMiddleware:
    """Counts token-endpoint calls by grant type (and revocations); optional delay to widen
    race windows."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path == "/o/token/":
            grant = request.POST.get("grant_type", "?")
            with _LOCK:
                COUNTS[f"token:{grant}"] += 1
            if CONFIG["token_delay"]:
                time.sleep(float(CONFIG["token_delay"]))
        elif request.method == "POST" and request.path == "/o/revoke_token/":
            with _LOCK:
                COUNTS["revoke"] += 1
        response = self.get_response(request)
        if request.path == "/o/token/":
            with _LOCK:
                COUNTS[f"token_status:{response.status_code}"] += 1
        return response


def auto_login(request: HttpRequest) -> HttpResponse:
    """/login/?username=alice[&next=...]: signs the browser in as that resource owner."""
    username = request.GET.get("username") or request.session.get("username") or "alice"
    user, _ = get_user_model().objects.get_or_create(username=username)
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    request.session["username"] = username
    return redirect(request.GET.get("next") or "/test/stats")


@protected_resource(scopes=["read"])
def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"user": request.resource_owner.username})


def stats(request: HttpRequest) -> JsonResponse:
    with _LOCK:
        return JsonResponse(dict(COUNTS))


@csrf_exempt
def config(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        data = json.loads(request.body or b"{}")
        with _LOCK:
            if data.get("reset"):
                COUNTS.clear()
            CONFIG.update({k: v for k, v in data.items() if k in CONFIG})
    return JsonResponse(CONFIG)
