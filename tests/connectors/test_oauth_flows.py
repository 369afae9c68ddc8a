"""The three OAuth flows against a real authorization server (django-oauth-toolkit)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection as db
from django.urls import reverse
from django.utils import timezone

from connectors import oauth, services
from connectors.models import Connection, OAuthState, TokenHandoff
from workspaces import services as ws_services
from workspaces.models import AppUser

from .conftest import local_path, query_of
from .support import connect_platform, open_link, register_connector

pytestmark = pytest.mark.django_db


def _raw_column(pk: int, column: str) -> str:
    with db.cursor() as cur:
        cur.execute(f"SELECT {column} FROM connectors_connection WHERE id = %s", [pk])
        return cur.fetchone()[0]


def test_platform_connect_then_hand_off(client, personas, sdk, connector_settings,
                                        oauth_provider):
    client.force_login(personas.owner)
    conn = connect_platform(client, oauth_provider, personas.app)
    access = conn.access_token.reveal()
    assert conn.refresh_token is not None and conn.expires_at is not None
    assert access not in _raw_column(conn.pk, "access_token")  # encrypted at rest
    assert oauth_provider.me(access) == 200

    resp = sdk(personas.app).get(f"/api/apps/{personas.app.public_id}/external-auth/tokens/github")
    assert resp.status_code == 200
    assert resp.json() == {"access_token": access, "integration_type": "github",
                           "connection_config": None}
    handoff = TokenHandoff.objects.get()
    assert (handoff.app, handoff.connector_label, handoff.caller_kind) == (
        personas.app, "github", "service")
    conn.refresh_from_db()
    assert conn.last_handoff_at is not None


def test_authorize_url_carries_state_and_pkce(client, personas, connector_settings):
    client.force_login(personas.owner)
    resp = client.post(reverse("app-connectors", args=[personas.workspace.public_id,
                                                       personas.app.public_id]),
                       {"action": "connect", "integration_type": "github"})
    q = query_of(resp["Location"])
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert q["response_type"] == "code" and q["redirect_uri"].endswith("/oauth/callback/")
    row = OAuthState.objects.get()
    assert row.digest == oauth.state_digest(q["state"])  # only the digest is stored
    assert row.expires_at <= timezone.now() + timedelta(minutes=10)


def _start(client, personas, oauth_provider) -> str:
    client.force_login(personas.owner)
    resp = client.post(reverse("app-connectors", args=[personas.workspace.public_id,
                                                       personas.app.public_id]),
                       {"action": "connect", "integration_type": "github"})
    return oauth_provider.authorize(resp["Location"])


def test_replayed_state_is_refused(client, personas, connector_settings, oauth_provider):
    callback = _start(client, personas, oauth_provider)
    cookies = dict(client.cookies.items())
    assert client.get(local_path(callback)).status_code == 302
    Connection.objects.all().delete()
    client.cookies.update(cookies)  # the browser cookie is removed on success: put it back
    again = client.get(local_path(callback), follow=True)
    assert b"already used" in again.content
    assert not Connection.objects.exists()


def test_tampered_state_is_refused(client, personas, connector_settings, oauth_provider):
    callback = _start(client, personas, oauth_provider)
    q = query_of(callback)
    resp = client.get(reverse("connectors-oauth-callback"),
                      {"code": q["code"], "state": q["state"][:-2] + "xx"})
    assert resp.status_code == 400 and b"tampered" in resp.content
    assert not Connection.objects.exists()


def test_expired_state_is_refused(client, personas, connector_settings, oauth_provider):
    callback = _start(client, personas, oauth_provider)
    OAuthState.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    resp = client.get(local_path(callback), follow=True)
    assert b"expired" in resp.content
    assert not Connection.objects.exists()


def test_state_of_another_dashboard_user_is_refused(client, personas, connector_settings,
                                                     oauth_provider):
    callback = _start(client, personas, oauth_provider)
    client.force_login(personas.admin)
    resp = client.get(local_path(callback), follow=True)
    assert b"another user" in resp.content
    assert not Connection.objects.exists()


def test_pkce_verifier_is_checked_by_the_provider(client, personas, connector_settings,
                                                  oauth_provider):
    callback = _start(client, personas, oauth_provider)
    before = oauth_provider.stats().get("token_status:400", 0)
    row = OAuthState.objects.get()
    row.code_verifier = oauth.new_pkce()[0]  # not the one the challenge was made from
    row.save()
    resp = client.get(local_path(callback), follow=True)
    assert b"refused the authorization code (invalid_grant)" in resp.content
    assert oauth_provider.stats().get("token_status:400", 0) == before + 1
    assert not Connection.objects.exists()


def test_provider_denial_is_shown(client, personas, connector_settings, oauth_provider):
    callback = _start(client, personas, oauth_provider)
    q = query_of(callback)
    resp = client.get(reverse("connectors-oauth-callback"),
                      {"error": "access_denied", "state": q["state"]}, follow=True)
    assert b"did not authorize" in resp.content


def test_dashboard_disconnect_revokes_at_the_provider(client, personas, connector_settings,
                                                     oauth_provider):
    client.force_login(personas.owner)
    conn = connect_platform(client, oauth_provider, personas.app)
    access = conn.access_token.reveal()
    revokes = oauth_provider.stats().get("revoke", 0)
    resp = client.post(reverse("app-connectors", args=[personas.workspace.public_id,
                                                       personas.app.public_id]),
                       {"action": "disconnect", "connection_id": conn.pk}, follow=True)
    assert b"revoked its tokens" in resp.content
    assert not Connection.objects.exists()
    assert oauth_provider.stats()["revoke"] == revokes + 2
    assert oauth_provider.me(access) in (401, 403)


def test_workspace_connector_consent_and_hand_off(client, personas, sdk, connector_settings,
                                                  oauth_provider):
    connector = register_connector(personas.workspace, personas.admin, oauth_provider)
    client.force_login(personas.owner)
    resp = client.post(reverse("app-connectors", args=[personas.workspace.public_id,
                                                       personas.app.public_id]),
                       {"action": "connect-workspace", "connector_id": connector.public_id})
    assert query_of(resp["Location"])["client_id"] == "workspace-own-app"
    callback = oauth_provider.authorize(resp["Location"])
    assert client.get(local_path(callback)).status_code == 302
    conn = Connection.objects.get(kind="workspace")
    body = sdk(personas.app).get(f"/api/apps/{personas.app.public_id}/external-auth/tokens/"
                                 f"connectors/{connector.public_id}").json()
    assert body["access_token"] == conn.access_token.reveal()
    assert oauth_provider.me(body["access_token"]) == 200


def test_app_user_connect_hand_off_disconnect(client, personas, sdk, connector_settings,
                                              oauth_provider):
    app = personas.app
    connector = register_connector(personas.workspace, personas.admin, oauth_provider)
    base = f"/api/apps/{app.public_id}/app-user-auth/connectors/{connector.public_id}"
    user_client = sdk(app, "user-1")
    resp = user_client.post(base + "/initiate", content_type="application/json")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["already_authorized"] is False
    row = OAuthState.objects.get()
    assert (row.app, row.app_user.external_id, row.connector) == (app, "user-1", connector)

    callback = oauth_provider.authorize(open_link(client, body["redirect_url"]), "bob")
    done = client.get(local_path(callback))  # the app user's browser: no dashboard session
    assert done.status_code == 200 and b"connected" in done.content
    conn = Connection.objects.get(kind="app_user")
    assert conn.app_user.external_id == "user-1"

    user_jwt = ws_services.mint_app_user_token(app, "user-1").token
    service = sdk(app)
    service.credentials(HTTP_AUTHORIZATION=service._credentials["HTTP_AUTHORIZATION"],
                        HTTP_ON_BEHALF_OF=f"Bearer {user_jwt}")
    got = service.get(base + "/token")
    assert got.status_code == 200
    token = got.json()["access_token"]
    assert oauth_provider.me(token) == 200

    # another app user has no connection
    other = sdk(app)
    other.credentials(HTTP_AUTHORIZATION=service._credentials["HTTP_AUTHORIZATION"],
                      HTTP_ON_BEHALF_OF="Bearer "
                      + ws_services.mint_app_user_token(app, "user-2").token)
    assert other.get(base + "/token").status_code == 404

    revokes = oauth_provider.stats().get("revoke", 0)
    gone = user_client.delete(base)
    assert gone.status_code == 200 and gone.json()["status"] == "disconnected"
    assert not Connection.objects.filter(kind="app_user").exists()
    assert oauth_provider.stats()["revoke"] == revokes + 2
    assert oauth_provider.me(token) in (401, 403)
    assert service.get(base + "/token").status_code == 404
    assert user_client.delete(base).json()["status"] == "not_connected"


def test_app_user_state_is_single_use(client, personas, sdk, connector_settings,
                                      oauth_provider):
    app = personas.app
    connector = register_connector(personas.workspace, personas.admin, oauth_provider)
    url = sdk(app, "user-1").post(f"/api/apps/{app.public_id}/app-user-auth/connectors/"
                                  f"{connector.public_id}/initiate").json()["redirect_url"]
    callback = oauth_provider.authorize(open_link(client, url), "bob")
    cookies = dict(client.cookies.items())
    assert client.get(local_path(callback)).status_code == 200
    client.cookies.update(cookies)  # even with the browser cookie back
    again = client.get(local_path(callback))
    assert again.status_code == 400 and b"already used" in again.content
    assert AppUser.objects.filter(app=app, external_id="user-1").exists()
    assert Connection.objects.count() == 1


def test_complete_authorization_never_leaks_the_code(personas, connector_settings):
    with pytest.raises(services.ConnectorError) as exc:
        services.complete_authorization("nope", code="SECRET-CODE")
    assert "SECRET-CODE" not in exc.value.message


def test_connection_config_fields_are_asked_for_and_handed_out(client, personas, sdk,
                                                               settings):
    settings.CONNECTOR_CLIENTS = {"zendesk": {"client_id": "zd", "client_secret": "zds"}}
    client.force_login(personas.owner)
    page = reverse("app-connectors", args=[personas.workspace.public_id, personas.app.public_id])
    assert 'name="zendesk-subdomain"' in client.get(page).content.decode()
    bad = client.post(page, {"action": "connect", "integration_type": "zendesk",
                             "zendesk-subdomain": "evil.com/x"}, follow=True)
    assert b"Check the connection settings: subdomain" in bad.content
    assert not OAuthState.objects.exists()
    resp = client.post(page, {"action": "connect", "integration_type": "zendesk",
                              "zendesk-subdomain": "acme"})
    assert resp["Location"].startswith("https://acme.zendesk.com/oauth/authorizations/new?")
    assert OAuthState.objects.get().connection_config == {"subdomain": "acme"}

    from .support import make_connection

    make_connection(personas.app, integration_type="zendesk", config={"subdomain": "acme"})
    got = sdk(personas.app).get(f"/api/apps/{personas.app.public_id}/external-auth/tokens/"
                                "zendesk").json()
    assert got == {"access_token": "AT-plain", "integration_type": "zendesk",
                   "connection_config": {"subdomain": "acme"}}
