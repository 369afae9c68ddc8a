"""Who may call ``integrations.custom.call``: the app's service token, an app-user token of
that app, anonymous callers only when the app allows them; 401 / 404 otherwise, as JSON
``{detail, code}`` the SDK turns into a useful ``Base44Error``."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from integrations.models import CallLog
from tests.factories import make_app
from tests.integrations import proxy_support
from tests.integrations.proxy_support import call_url, make_integration
from workspaces import services, tokens
from workspaces.models import AppUser

# the shared fixtures of the proxy tests
_fresh_proxy_state = proxy_support._fresh_proxy_state
egress_open = proxy_support.egress_open
upstream = proxy_support.upstream

pytestmark = pytest.mark.django_db


@pytest.fixture
def pets(personas: Any, upstream: Any, egress_open: Any) -> Any:
    return make_integration(personas.workspace, upstream.url("/v1"))


def call(client: APIClient, app_id: str, **extra: Any) -> Any:
    return client.post(call_url(app_id, "pets", "get:/pets"), {}, format="json", **extra)


def test_service_token_app_user_and_on_behalf_of(personas, sdk, pets, upstream):
    assert call(sdk(personas.app), personas.app.public_id).status_code == 200
    assert call(sdk(personas.app, "user-1"), personas.app.public_id).status_code == 200
    client = sdk(personas.app)
    user_jwt = services.mint_app_user_token(personas.app, "user-2").token
    r = call(client, personas.app.public_id, HTTP_ON_BEHALF_OF=f"Bearer {user_jwt}")
    assert r.status_code == 200
    kinds = list(CallLog.objects.order_by("id").values_list("caller_kind", flat=True))
    assert kinds == ["service", "app_user", "service"]


def test_anonymous_needs_the_apps_switch(personas, sdk, pets, upstream):
    r = call(sdk(None), personas.app.public_id)
    assert r.status_code == 401
    assert r.json() == {"detail": "Authentication credentials were not provided.",
                        "code": "not_authenticated"}
    assert r["WWW-Authenticate"].startswith("Bearer")
    assert r["X-Request-Id"].startswith("req_")
    personas.app.allow_anonymous_integration_calls = True
    personas.app.save()
    r = call(sdk(None), personas.app.public_id)
    assert r.status_code == 200 and r.json()["success"] is True
    assert CallLog.objects.get().caller_kind == "anonymous"
    # an unknown app answers like a disallowed one: nothing to learn
    assert call(sdk(None), "f" * 24).status_code == 401
    assert len(upstream.seen) == 1


@pytest.mark.parametrize("header", [
    "Bearer sbs_000000000000_nope", "Bearer not-a-token", "Bearer a.b.c", "Token abc",
    "Bearer", "Bearer sbp_abcdef012345_personal",
])
def test_invalid_credentials_are_401(personas, sdk, pets, upstream, header):
    r = call(APIClient(), personas.app.public_id, HTTP_AUTHORIZATION=header)
    assert r.status_code == 401
    assert set(r.json()) == {"detail", "code"} and r.json()["code"] == "authentication_failed"
    assert upstream.seen == [] and not CallLog.objects.exists()


def test_revoked_and_expired_tokens_are_401(personas, sdk, pets, upstream):
    token, raw = services.create_service_token(personas.app, actor=personas.owner, name="t")
    services.revoke_service_token(token, actor=personas.owner)
    r = call(APIClient(), personas.app.public_id, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert r.status_code == 401
    services.mint_app_user_token(personas.app, "user-1")
    app_user = AppUser.objects.get(app=personas.app, external_id="user-1")
    expired = tokens.mint_app_user_token(app_user, ttl_seconds=-10).token
    r = call(APIClient(), personas.app.public_id, HTTP_AUTHORIZATION=f"Bearer {expired}")
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert upstream.seen == []


def test_a_personal_access_token_is_the_wrong_kind_of_credential(personas, pets, upstream):
    """A portal user's own API token is valid, but it does not speak for an app: 403 (even
    the workspace owner's); once revoked it is just an invalid token: 401."""
    token, raw = services.create_personal_token(actor=personas.owner, name="cli")
    r = call(APIClient(), personas.app.public_id, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert r.status_code == 403
    assert r.json() == {"detail": "A personal access token can't call an app's integrations: "
                                  "use the app's service token or an app-user token of the "
                                  "app.", "code": "permission_denied"}
    assert r["X-Request-Id"].startswith("req_")
    services.revoke_personal_token(token, actor=personas.owner)
    r = call(APIClient(), personas.app.public_id, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert r.status_code == 401 and r.json()["code"] == "authentication_failed"
    assert upstream.seen == [] and not CallLog.objects.exists()


def test_tokens_of_other_apps_get_404(personas, sdk, pets, upstream):
    sibling = make_app(personas.workspace, personas.owner, "Sibling")
    for client in (sdk(sibling), sdk(sibling, "u"), sdk(personas.outsider_app)):
        r = call(client, personas.app.public_id)
        assert r.status_code == 404 and r.json() == {"detail": "App not found.",
                                                     "code": "not_found"}
    assert upstream.seen == []


def test_any_app_of_the_workspace_may_use_its_integrations(personas, sdk, pets, upstream):
    """Whatever the plan of the member who made the app."""
    members_app = make_app(personas.workspace, personas.member, "Member's app")
    r = call(sdk(members_app), members_app.public_id)
    assert r.status_code == 200 and r.json()["success"] is True
    # the outsider's own app, in its own workspace, has no such integration
    r = call(sdk(personas.outsider_app), personas.outsider_app.public_id)
    assert r.status_code == 404 and r.json()["code"] == "integration_not_found"


def test_the_path_app_wins_over_x_app_id(personas, sdk, pets, upstream):
    r = call(sdk(personas.app), personas.app.public_id, HTTP_X_APP_ID="someone-else")
    assert r.status_code == 200


def test_trailing_slash_server_urls_reach_the_proxy(personas, sdk, pets, upstream):
    """`serverUrl: "http://host/"` makes the SDK request //api/...; no redirect, no HTML."""
    doubled = "/" + call_url(personas.app.public_id, "pets", "get:/pets")
    r = sdk(personas.app).post("/", {}, format="json", PATH_INFO=doubled)
    assert r.status_code == 200 and r.json()["success"] is True


def test_error_bodies_are_json_with_detail_and_code(personas, sdk, pets, upstream):
    client = sdk(personas.app)
    url = call_url(personas.app.public_id, "pets", "get:/pets")
    r = client.post(url, "{not json", content_type="application/json")
    assert r.status_code == 400 and r.json()["code"] == "parse_error"
    r = client.post(url, "a=1", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415 and set(r.json()) >= {"detail", "code"}
