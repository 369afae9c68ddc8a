"""Helpers for SDK routes (/api/apps/{app_id}/...): who is calling, for which app."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request

from .. import sdk_cache
from ..models import App
from .authentication import SDKAuthentication, SDKCaller


class SDKViewMixin:
    authentication_classes = [SDKAuthentication]
    permission_classes: list = []

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        sdk_cache.begin()  # before the first lookup: may this request use the caches?
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


def resolve_app(
    request: Request,
    app_id: str,
    *,
    allow: Iterable[str] = ("service", "app_user"),
    anonymous_allowed: Callable[[App], bool] | None = None,
) -> tuple[App, SDKCaller]:
    """The app named in the path, checked against the caller.

    - no credentials: 401, unless `anonymous_allowed(app)` says yes;
    - a token of another app: 404 (the path app is not theirs to learn about);
    - a valid token of the wrong kind: 403.
    """
    caller: SDKCaller = request.auth
    allow = tuple(allow)
    if caller is None or caller.kind == "anonymous":
        app = App.objects.select_related("workspace").filter(public_id=app_id).first()
        if anonymous_allowed is not None and app is not None and anonymous_allowed(app):
            return app, caller or SDKCaller(kind="anonymous")
        raise exceptions.NotAuthenticated("Authentication credentials were not provided.")
    assert caller.app is not None
    if caller.app.public_id != app_id:
        raise exceptions.NotFound("App not found.")
    if caller.kind not in allow:
        if caller.kind == "app_user":
            raise exceptions.PermissionDenied("This endpoint is only accessible to service tokens")
        raise exceptions.PermissionDenied("This endpoint needs an app-user token.")
    return caller.app, caller
