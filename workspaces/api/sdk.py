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
    #: Use the lookup caches before the shared epoch is read, and let the view's own Redis
    #: round trip check it (``sdk_cache.begin(optimistic=True)``). Such a view must answer
    #: only after ``sdk_cache.settle``/``confirm``, and start over on ``sdk_cache.Stale``
    #: (``handle_exception`` below does both for refusals and for ``Stale``).
    optimistic_lookups = False

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # before the first lookup: may this request use the caches?
        sdk_cache.begin(optimistic=self.optimistic_lookups)
        super().initial(request, *args, **kwargs)  # type: ignore[misc]

    def handle_exception(self, exc: Exception) -> Any:
        """With optimistic lookups: a refusal (or ``Stale``) that may rest on cached rows the
        epoch has not confirmed is answered only once it has; when the rows were stale, the
        request is authenticated and handled once more, from the database."""
        if self.optimistic_lookups and (isinstance(exc, sdk_cache.Stale)
                                        or sdk_cache.pending()):
            try:
                if not isinstance(exc, sdk_cache.Stale):
                    sdk_cache.confirm()
            except sdk_cache.Stale:
                exc = sdk_cache.Stale()
            if isinstance(exc, sdk_cache.Stale):
                try:
                    return self._handle_again()
                except Exception as again:  # noqa: BLE001 (answered like the first one)
                    exc = again
        return super().handle_exception(exc)  # type: ignore[misc]

    def _handle_again(self) -> Any:
        request = self.request  # type: ignore[attr-defined]
        # forget who DRF said the caller was: the view's own perform_authentication (its checks
        # first, then the authentication classes, on rows read again) decides once more
        for name in ("_user", "_auth"):
            request.__dict__.pop(name, None)
        self.perform_authentication(request)  # type: ignore[attr-defined]
        self.check_permissions(request)  # type: ignore[attr-defined]
        handler = getattr(self, request.method.lower(), None)
        if handler is None:
            raise exceptions.MethodNotAllowed(request.method)
        return handler(request, *self.args, **self.kwargs)  # type: ignore[attr-defined]


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
