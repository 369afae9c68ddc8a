"""DRF authentication for the three kinds of API callers.

- PersonalAccessTokenAuthentication: `Authorization: Bearer sbp_...` on the admin API (/api/v1/).
- SDKAuthentication: on /api/apps/... — an app service token (`sbs_...`) or an app-user JWT in
  `Authorization: Bearer`, plus `on-behalf-of: Bearer <JWT>` on service-role calls. Anonymous
  callers pass through as `SDKCaller(kind="anonymous")`; each view decides whether it allows them.
Session auth is for the dashboard and /api/v1/ only, never for SDK routes (no CSRF surprises).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from .. import audit, tokens
from ..models import App, AppServiceToken, AppUser, PersonalAccessToken


def bearer(request: Request, header: str = "HTTP_AUTHORIZATION") -> str | None:
    raw = request.META.get(header, "")
    if not raw:
        return None
    parts = raw.split()
    if len(parts) != 2 or parts[0].lower() != "bearer":
        raise exceptions.AuthenticationFailed("Use 'Authorization: Bearer <token>'.")
    return parts[1]


class BearerMixin:
    realm = "api"

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{self.realm}"'


class PersonalAccessTokenAuthentication(BearerMixin, BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, PersonalAccessToken] | None:
        if not get_authorization_header(request):
            return None
        raw = bearer(request)
        if raw is None:
            return None
        row = tokens.verify(PersonalAccessToken, raw, select_related=("user",))
        if row is None or not row.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked access token.")
        # Audit entries made for this request name the token (services get request.user).
        return audit.mark_personal_token(row.user, row), row


@dataclass
class SDKCaller:
    kind: str  # "service", "app_user" or "anonymous"
    app: App | None = None
    app_user: AppUser | None = None
    on_behalf_of: AppUser | None = None
    service_token: AppServiceToken | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"


class SDKAuthentication(BearerMixin, BaseAuthentication):
    realm = "sdk"

    def authenticate(self, request: Request) -> tuple[Any, SDKCaller]:
        raw = bearer(request)
        if raw is None:
            return AnonymousUser(), SDKCaller(kind="anonymous")
        if raw.startswith("sbs_"):
            row = tokens.verify(AppServiceToken, raw, select_related=("app", "app__workspace"))
            if row is None:
                raise exceptions.AuthenticationFailed("Invalid or revoked service token.")
            caller = SDKCaller(kind="service", app=row.app, service_token=row)
            obo = request.META.get("HTTP_ON_BEHALF_OF")
            if obo:
                parts = obo.split()
                if len(parts) != 2 or parts[0].lower() != "bearer":
                    raise exceptions.AuthenticationFailed("Use 'on-behalf-of: Bearer <token>'.")
                app, app_user = self._app_user(parts[1])
                if app.pk != row.app_id:
                    raise exceptions.AuthenticationFailed(
                        "The on-behalf-of token belongs to another app.")
                caller.on_behalf_of = app_user
            return AnonymousUser(), caller
        if tokens.looks_like_jwt(raw):
            app, app_user = self._app_user(raw)
            return AnonymousUser(), SDKCaller(kind="app_user", app=app, app_user=app_user)
        raise exceptions.AuthenticationFailed("Invalid token.")

    def _app_user(self, raw: str) -> tuple[App, AppUser]:
        try:
            app, app_user, _ = tokens.decode_app_user_token(raw)
        except tokens.InvalidAppUserToken as exc:
            raise exceptions.AuthenticationFailed(str(exc))
        return app, app_user
