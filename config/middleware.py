"""Middleware of our own.

- ``RefuseControlCharactersMiddleware`` (below).
- The dashboard's middleware made route-aware: sessions, CSRF, authentication and messages
  do nothing on the SDK routes (``/api/apps/...``), and the CSP header there is built once
  (``skipped_on_sdk_routes``, ``CSPMiddleware``). CORS, security headers (SecurityMiddleware,
  X-Frame-Options) and the control-character guard run on every route.

Requests carrying control characters are refused before any view or query sees them.

PostgreSQL refuses NUL in text, so a `%00` in a URL id or a query value that reached the
database was an unhandled 500 on nearly every route. No id, slug, operation or query value of
ours ever contains a C0 control character or DEL: a path holding one is answered 404 (no such
thing exists), a query string holding one 400. Under /api/ the answer is the API's JSON error
({"detail", "code"}, + "errors" per query parameter); elsewhere the dashboard's own pages
(config.urls.handler404 / handler400).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import csp.middleware as _csp
import django.contrib.auth.middleware as _auth
import django.contrib.messages.middleware as _messages
import django.contrib.sessions.middleware as _sessions
import django.middleware.csrf as _csrf
from django.contrib.auth import get_user
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import BadRequest
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.functional import SimpleLazyObject

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
MESSAGE = "Control characters (such as NUL) are not allowed in query parameters."


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith("/api/")


class RefuseControlCharactersMiddleware:
    """Runs before CommonMiddleware (whose APPEND_SLASH would redirect to the bad path) and
    AuthenticationMiddleware; a refusal still renders the page for the signed-in user."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        bad_path = bool(CONTROL_CHARACTERS.search(request.path_info)
                        or CONTROL_CHARACTERS.search(request.path))
        bad_query = [name for name, values in request.GET.lists()
                     if CONTROL_CHARACTERS.search(name)
                     or any(CONTROL_CHARACTERS.search(value) for value in values)]
        if not bad_path and not bad_query:
            return self.get_response(request)
        # The error pages show the signed-in user's nav: set request.user (lazily) the way
        # AuthenticationMiddleware, which has not run yet, would.
        request.user = SimpleLazyObject(lambda: get_user(request))
        if bad_path:
            raise Http404("No such page.")  # config.urls.handler404: JSON under /api/
        if _is_api(request.path_info):
            return JsonResponse({"detail": f"{MESSAGE} Check: {', '.join(map(repr, bad_query))}.",
                                 "code": "bad_request",
                                 "errors": {name: [MESSAGE] for name in bad_query}}, status=400)
        raise BadRequest(MESSAGE)  # config.urls.handler400: the dashboard's 400 page


# --------------------------------------------------------------------------- SDK routes

#: The SDK API (bearer tokens, never cookies; sdk-protocol.md). Matched on ``path_info`` after
#: ``CollapseApiSlashesMiddleware`` (first in the list) made ``//api/...`` into ``/api/...``.
SDK_PREFIX = "/api/apps/"


def is_sdk_route(request: HttpRequest) -> bool:
    return request.path_info.startswith(SDK_PREFIX)


def skipped_on_sdk_routes(base: type, *, name: str, on_sdk: Callable[[HttpRequest], None]
                          | None = None) -> type:
    """``base`` (a middleware class) that does nothing on SDK routes.

    The SDK routes authenticate with bearer tokens and never read a session, a signed-in user,
    a flash message or a CSRF token, so sessions, CSRF, authentication and messages only cost
    time there. The result is a subclass of ``base``, so every check that looks for ``base``
    (the admin's system checks, ``isinstance``) still finds it, and on every other route it is
    ``base`` itself: every hook (``process_view``, ``process_exception``,
    ``process_template_response``) is skipped on SDK routes and unchanged elsewhere.
    ``on_sdk(request)`` may set what the skipped middleware would have (e.g. ``request.user``).
    """

    def __call__(self: Any, request: HttpRequest) -> HttpResponse:
        if is_sdk_route(request):
            if on_sdk is not None:
                on_sdk(request)
            return self.get_response(request)
        return base.__call__(self, request)

    namespace: dict[str, Any] = {
        "__call__": __call__, "__module__": __name__, "__doc__": base.__doc__,
        # sync only: under ASGI Django adapts it, as for any sync middleware
        "sync_capable": True, "async_capable": False,
    }
    for hook in ("process_view", "process_exception"):
        original = getattr(base, hook, None)
        if original is not None:
            def skipped(self: Any, request: HttpRequest, *args: Any,
                        _original: Any = original) -> Any:
                return None if is_sdk_route(request) else _original(self, request, *args)
            namespace[hook] = skipped
    template_hook = getattr(base, "process_template_response", None)
    if template_hook is not None:
        def process_template_response(self: Any, request: HttpRequest, response: Any) -> Any:
            return response if is_sdk_route(request) else template_hook(self, request, response)
        namespace["process_template_response"] = process_template_response
    return type(name, (base,), namespace)


def _anonymous(request: HttpRequest) -> None:
    request.user = AnonymousUser()  # DRF sets the SDK caller's own user when it authenticates


SessionMiddleware = skipped_on_sdk_routes(_sessions.SessionMiddleware, name="SessionMiddleware")
CsrfViewMiddleware = skipped_on_sdk_routes(_csrf.CsrfViewMiddleware, name="CsrfViewMiddleware")
AuthenticationMiddleware = skipped_on_sdk_routes(
    _auth.AuthenticationMiddleware, name="AuthenticationMiddleware", on_sdk=_anonymous)
MessageMiddleware = skipped_on_sdk_routes(_messages.MessageMiddleware, name="MessageMiddleware")


class CSPMiddleware(_csp.CSPMiddleware):
    """django-csp's middleware; on SDK routes the same policy, built once per process (their
    JSON answers use no nonce and no per-view policy, so it is the header the full middleware
    would compute on every call)."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_sdk_route(request):
            return super().__call__(request)
        response = self.get_response(request)
        for header, value in _sdk_policy():
            if value and header not in response:
                response[header] = value
        return response


@functools.cache
def _sdk_policy() -> tuple[tuple[str, str], ...]:
    from csp.constants import HEADER, HEADER_REPORT_ONLY
    from csp.utils import build_policy

    return ((HEADER, build_policy()), (HEADER_REPORT_ONLY, build_policy(report_only=True)))
