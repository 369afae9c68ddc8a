"""Requests carrying control characters are refused before any view or query sees them.

PostgreSQL refuses NUL in text, so a `%00` in a URL id or a query value that reached the
database was an unhandled 500 on nearly every route. No id, slug, operation or query value of
ours ever contains a C0 control character or DEL: a path holding one is answered 404 (no such
thing exists), a query string holding one 400. Under /api/ the answer is the API's JSON error
({"detail", "code"}, + "errors" per query parameter); elsewhere the dashboard's own pages
(config.urls.handler404 / handler400).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.contrib.auth import get_user
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
