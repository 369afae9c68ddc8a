from __future__ import annotations

import pytest
from django.utils import timezone

from workspaces import services, tokens
from workspaces.models import AppServiceToken, PersonalAccessToken

pytestmark = pytest.mark.django_db


def test_personal_token_is_stored_as_prefix_and_digest_only(personas):
    row, raw = services.create_personal_token(actor=personas.owner, name="laptop")
    stored = PersonalAccessToken.objects.get(pk=row.pk)
    assert raw.startswith("sbp_") and stored.prefix in raw
    assert raw not in (stored.digest, stored.prefix, stored.name)
    assert len(stored.digest) == 64


def test_revoked_personal_token_is_refused(api, personas):
    client = api(None)
    row, raw = services.create_personal_token(actor=personas.owner, name="laptop")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/workspaces/").status_code == 200
    services.revoke_personal_token(row, actor=personas.owner)
    response = client.get("/api/v1/workspaces/")
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid or revoked access token."
    assert "Bearer" in response["WWW-Authenticate"]


def test_tampered_token_is_refused(api, personas):
    _, raw = services.create_personal_token(actor=personas.owner, name="laptop")
    client = api(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw[:-2]}xx")
    assert client.get("/api/v1/workspaces/").status_code == 401


def test_last_used_is_recorded(api, personas):
    row, raw = services.create_personal_token(actor=personas.owner, name="laptop")
    assert row.last_used_at is None
    client = api(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.get("/api/v1/workspaces/")
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_service_token_shown_once_and_revocable(api, personas, sdk):
    client = api(personas.owner)
    base = f"/api/v1/workspaces/{personas.workspace.public_id}/apps/{personas.app.public_id}"
    created = client.post(f"{base}/service-tokens/", {"name": "backend"}, format="json").json()
    assert created["token"].startswith("sbs_")
    listing = client.get(f"{base}/service-tokens/").json()
    assert created["token"] not in str(listing)
    svc = api(None)
    svc.credentials(HTTP_AUTHORIZATION=f"Bearer {created['token']}")
    mint = f"/api/apps/{personas.app.public_id}/app-users/tokens"
    assert svc.post(mint, {"app_user_id": "u1"}, format="json").status_code == 201
    assert client.delete(f"{base}/service-tokens/{created['id']}/").status_code == 204
    assert AppServiceToken.objects.get(pk=created["id"]).revoked_at is not None
    refused = svc.post(mint, {"app_user_id": "u1"}, format="json")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "Invalid or revoked service token."


def test_service_token_does_not_work_on_admin_api(api, personas, sdk):
    _, raw = services.create_service_token(personas.app, actor=personas.owner, name="x")
    client = api(None)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get("/api/v1/workspaces/").status_code == 401


def test_personal_token_does_not_work_on_sdk_routes(api, personas):
    client = api(personas.owner)
    response = client.post(f"/api/apps/{personas.app.public_id}/app-users/tokens",
                           {"app_user_id": "u1"}, format="json")
    assert response.status_code == 401


def test_session_is_not_accepted_on_sdk_routes(client, personas):
    client.force_login(personas.owner)
    response = client.post(f"/api/apps/{personas.app.public_id}/app-users/tokens",
                           {"app_user_id": "u1"}, content_type="application/json")
    assert response.status_code == 401


class TestAppUserTokens:
    def mint(self, sdk, app, user_id="user-42", **extra):  # type: ignore[no-untyped-def]
        response = sdk(app).post(f"/api/apps/{app.public_id}/app-users/tokens",
                                 {"app_user_id": user_id, **extra}, format="json")
        assert response.status_code == 201, response.json()
        return response.json()["token"]

    def me(self, app, token):  # type: ignore[no-untyped-def]
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client.get(f"/api/apps/{app.public_id}/app-users/me")

    def test_minted_token_identifies_the_user(self, sdk, personas):
        token = self.mint(sdk, personas.app)
        response = self.me(personas.app, token)
        assert response.status_code == 200
        assert response.json() == {"app_id": personas.app.public_id, "app_user_id": "user-42"}

    def test_token_of_one_app_is_refused_by_another(self, sdk, personas):
        token = self.mint(sdk, personas.app)
        assert self.me(personas.outsider_app, token).status_code == 404

    def test_expired_token_is_refused(self, sdk, personas):
        self.mint(sdk, personas.app)  # creates the app user
        app_user = personas.app.app_users.get(external_id="user-42")
        token = tokens.mint_app_user_token(app_user, ttl_seconds=-1).token
        response = self.me(personas.app, token)
        assert response.status_code == 401
        assert "expired" in response.json()["detail"]

    def test_revoked_token_is_refused(self, sdk, personas):
        token = self.mint(sdk, personas.app)
        url = f"/api/apps/{personas.app.public_id}/app-users/tokens/revoke"
        revoke = sdk(personas.app).post(url, {"token": token}, format="json")
        assert revoke.status_code == 204
        response = self.me(personas.app, token)
        assert response.status_code == 401
        assert "revoked" in response.json()["detail"]

    def test_rotating_the_app_key_revokes_all(self, sdk, personas):
        token = self.mint(sdk, personas.app)
        services.revoke_all_app_user_tokens(personas.app, actor=personas.owner)
        assert self.me(personas.app, token).status_code == 401

    def test_forged_token_is_refused(self, sdk, personas):
        import jwt

        forged = jwt.encode({"aud": personas.app.public_id, "sub": "admin", "jti": "x",
                             "iss": "switchboard", "exp": 9999999999}, "guess", algorithm="HS256")
        assert self.me(personas.app, forged).status_code == 401

    def test_app_user_cannot_mint_tokens(self, sdk, personas):
        token = self.mint(sdk, personas.app)
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = client.post(f"/api/apps/{personas.app.public_id}/app-users/tokens",
                               {"app_user_id": "other"}, format="json")
        assert response.status_code == 403
        assert response.json()["detail"] == "This endpoint is only accessible to service tokens"

    def test_service_token_of_other_app_gets_404(self, sdk, personas):
        response = sdk(personas.outsider_app).post(
            f"/api/apps/{personas.app.public_id}/app-users/tokens", {"app_user_id": "u"},
            format="json")
        assert response.status_code == 404

    def test_anonymous_gets_401(self, sdk, personas):
        response = sdk(None).post(f"/api/apps/{personas.app.public_id}/app-users/tokens",
                                  {"app_user_id": "u"}, format="json")
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")

    def test_on_behalf_of_from_other_app_is_refused(self, sdk, personas):
        other_user_token = self.mint(sdk, personas.outsider_app)
        client = sdk(personas.app)
        response = client.post(f"/api/apps/{personas.app.public_id}/app-users/tokens",
                               {"app_user_id": "u"}, format="json",
                               HTTP_ON_BEHALF_OF=f"Bearer {other_user_token}")
        assert response.status_code == 401


def test_service_token_check_loads_the_app_and_workspace_in_one_query(personas):
    """The SDK's hot path: one query gives the token with its app and workspace, values
    converted as the ORM would (dates aware, booleans, public ids)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from workspaces import tokens
    from workspaces.models import AppServiceToken

    row, raw = tokens.issue(AppServiceToken, app=personas.app, name="hot")
    AppServiceToken.objects.filter(pk=row.pk).update(last_used_at=timezone.now())
    with CaptureQueriesContext(connection) as queries:
        found = tokens.verify(AppServiceToken, raw, select_related=("app", "app__workspace"))
        assert found is not None and found.pk == row.pk and found.name == "hot"
        assert found.app.public_id == personas.app.public_id
        assert found.app.workspace.public_id == personas.workspace.public_id
        assert found.app.allow_anonymous_integration_calls is False
        assert found.last_used_at is not None and found.last_used_at.tzinfo is not None
    assert len(queries) == 1
    assert tokens.verify(AppServiceToken, raw[:-1] + "x") is None


@pytest.mark.parametrize("where", ["page", "api", "service-token-api"])
def test_a_crash_while_creating_a_token_keeps_it_out_of_error_reports(personas, rf, monkeypatch,
                                                                      where):
    """Django's error reports list every frame's locals: a token being created (and so already
    minted in memory) is not among them."""
    import re

    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore
    from django.urls import resolve
    from rest_framework.test import APIRequestFactory, force_authenticate

    from tests.canary import error_report
    from workspaces import views

    def explode(raw):  # type: ignore[no-untyped-def]
        raise RuntimeError("digest unavailable")

    monkeypatch.setattr("workspaces.tokens._digest", explode)
    if where == "page":
        request = rf.post("/tokens/", {"action": "create", "name": "ci"})
        request.user, request.session = personas.owner, SessionStore()
        request._messages = FallbackStorage(request)
        view, kwargs = views.personal_tokens, {}
    else:
        url = ("/api/v1/tokens/" if where == "api" else
               f"/api/v1/workspaces/{personas.workspace.public_id}/apps/"
               f"{personas.app.public_id}/service-tokens/")
        request = APIRequestFactory().post(url, {"name": "ci"}, format="json")
        force_authenticate(request, user=personas.owner)
        match = resolve(url)
        view, kwargs = match.func, match.kwargs
    report = error_report(request, lambda: view(request, **kwargs))
    assert "workspaces/tokens.py" in report and "digest unavailable" in report
    assert not re.search(r"sb[ps]_[0-9a-f]{12}_[\w-]{20,}", report)
