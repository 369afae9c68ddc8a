from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

_LEADING_SLASHES = re.compile(r"^/{2,}(?=api(/|$))")


class CollapseApiSlashesMiddleware:
    """`serverUrl: "http://host/"` makes the SDK request `//api/...`; serve it as `/api/...`.

    Gunicorn passes the doubled slash through unchanged, and Django would answer with an HTML
    404. We rewrite in place instead of redirecting, because the SDK turns a redirected POST
    into a body-less GET.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        if path.startswith("//"):
            fixed = _LEADING_SLASHES.sub("/", path)
            if fixed != path:
                request.path_info = fixed
                request.path = request.path.replace(path, fixed, 1)
        return self.get_response(request)
