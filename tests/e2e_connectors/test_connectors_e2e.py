"""The real @base44/sdk 0.8.50 (node) against gunicorn, with django-oauth-toolkit as the
provider: connect, hand off, refresh, rotate, metered callApi, app-user connect/disconnect with
revocation, workspace connectors, dashboard disconnect."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
from django.utils import timezone

from connectors.models import Connection, WorkspaceConnector
from tests.factories import PASSWORD
from tests.integrations.egress_support import raw, slow
from workspaces import credits
from workspaces import services as ws_services

from ..connectors.conftest import CLIENT_ID_2, CLIENT_SECRET, CLIENT_SECRET_2
from .conftest import Portal, run_sdk

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _dashboard(portal: Portal, email: str) -> requests.Session:
    s = requests.Session()
    s.get(portal.url + "/login/", timeout=10)
    resp = s.post(portal.url + "/login/", data={"username": email, "password": PASSWORD},
                  headers={"X-CSRFToken": s.cookies["csrftoken"]}, allow_redirects=False,
                  timeout=10)
    assert resp.status_code == 302, resp.text[:500]
    return s


def _post(s: requests.Session, url: str, data: dict[str, str]) -> requests.Response:
    return s.post(url, data=data, headers={"X-CSRFToken": s.cookies["csrftoken"]},
                  allow_redirects=False, timeout=20)


def _connect(portal: Portal, s: requests.Session, page: str, data: dict[str, str]) -> None:
    resp = _post(s, page, data)
    assert resp.status_code == 302, resp.text[:500]
    callback = portal.provider.authorize(resp.headers["Location"])
    assert callback.startswith(portal.url + "/connectors/oauth/callback/")
    done = s.get(callback, allow_redirects=False, timeout=20)
    assert done.status_code == 302 and "/connectors/" in done.headers["Location"], done.text


def _open_link(browser: requests.Session, url: str) -> str:
    """The app navigates the browser to the connectAppUser URL; returns the provider URL."""
    resp = browser.get(url, allow_redirects=False, timeout=20)
    assert resp.status_code == 302, resp.text[:500]
    assert any(c.name.startswith("sb_oauth_") for c in browser.cookies)
    return resp.headers["Location"]


def test_connect_app_user_is_bound_to_the_browser_that_opened_the_link(
        portal: Portal, node: str, personas: Any) -> None:
    """The real SDK's connectAppUser, the consent done in one browser, the callback opened in
    another cookie jar: refused, nothing linked; the link itself opens once."""
    p, provider = personas, portal.provider
    connector = WorkspaceConnector.objects.create(
        workspace=p.workspace, name="Bound", client_id=CLIENT_ID_2,
        client_secret=CLIENT_SECRET_2, authorize_url=provider.endpoint("/o/authorize/"),
        token_url=provider.endpoint("/o/token/"), scopes="read write")
    user_jwt = ws_services.mint_app_user_token(p.app, "user-9").token
    [redirect] = run_sdk(node, {"serverUrl": portal.url, "appId": p.app.public_id,
                                "token": user_jwt,
                                "calls": [{"method": "connectAppUser",
                                           "args": [connector.public_id]}]})
    link = redirect["value"]
    started_in, elsewhere = requests.Session(), requests.Session()
    callback = provider.authorize(_open_link(started_in, link), "bob")
    taken = elsewhere.get(link, allow_redirects=False, timeout=20)
    assert taken.status_code == 400 and "already opened" in taken.text
    refused = elsewhere.get(callback, timeout=20)
    assert refused.status_code == 400
    assert "start the connection again from there" in refused.text
    assert not Connection.objects.filter(kind="app_user", app_user__external_id="user-9").exists()
    assert started_in.get(callback, timeout=20).status_code == 200
    assert Connection.objects.filter(kind="app_user", app_user__external_id="user-9").exists()


def test_the_sdk_connectors_module_end_to_end(portal: Portal, node: str, personas: Any) -> None:
    p, provider = personas, portal.provider
    app = p.app
    _, service = ws_services.create_service_token(app, actor=p.owner, name="e2e")
    user_jwt = ws_services.mint_app_user_token(app, "user-1").token
    base = {"serverUrl": portal.url, "appId": app.public_id, "serviceToken": service}

    def sdk(*calls: tuple[Any, ...], **extra: Any) -> list[dict[str, Any]]:
        spec = {**base, **extra, "calls": [{"method": c[0], "args": list(c[1:])} for c in calls]}
        return run_sdk(node, spec)

    # not connected yet: 404
    [missing] = sdk(("getConnection", "github"))
    assert missing["error"]["status"] == 404

    # platform connector, connected by the owner from the app's Connectors page
    owner = _dashboard(portal, p.owner.email)
    page = f"{portal.url}/w/{p.workspace.public_id}/apps/{app.public_id}/connectors/"
    _connect(portal, owner, page, {"action": "connect", "integration_type": "github"})
    conn = Connection.objects.get(kind="platform", integration_type="github")
    got, token = sdk(("getConnection", "github"), ("getAccessToken", "github"))
    assert got == {"ok": True, "value": {"accessToken": conn.access_token.reveal(),
                                         "connectionConfig": None}}
    assert token["value"] == conn.access_token.reveal()
    assert provider.me(token["value"]) == 200

    # refresh on access (expiring soon), rotation, one token-endpoint call for 8 parallel calls
    old_refresh = conn.refresh_token.reveal()
    Connection.objects.filter(pk=conn.pk).update(expires_at=timezone.now()
                                                 + timedelta(seconds=30))
    before = provider.stats().get("token:refresh_token", 0)
    results = sdk(*[("getConnection", "github")] * 8, parallel=True)
    assert provider.stats()["token:refresh_token"] == before + 1
    conn.refresh_from_db()
    assert {r["value"]["accessToken"] for r in results} == {conn.access_token.reveal()}
    assert conn.refresh_token.reveal() != old_refresh
    assert provider.me(conn.access_token.reveal()) == 200

    # metered connector: no raw token, callApi through the proxy with credits
    _connect(portal, owner, page, {"action": "connect", "integration_type": "twitter"})
    portal.upstream.routes["/2/tweets"] = lambda h: h.reply(
        201, b'{"data": {"id": "9"}}', [("Content-Type", "application/json"),
                                        ("x-rate-limit-remaining", "7")])
    start = credits.balance(p.workspace)
    refused, posted, media, unknown_host = sdk(
        ("getConnection", "twitter"),
        ("callApi", "twitter", {"method": "POST", "path": "/2/tweets", "body": {"text": "hi"}}),
        ("callApi", "twitter", {"host": "upload", "path": "/missing"}),
        ("callApi", "twitter", {"host": "nope", "path": "/x"}))
    assert refused["error"]["status"] == 403
    assert refused["error"]["code"] == "metered_connector_requires_proxy"
    assert f"/api/apps/{app.public_id}/connectors/twitter/call" in refused["error"]["message"]
    assert posted["value"] == {"success": True, "phase": "responded", "status": 201,
                               "data": {"data": {"id": "9"}}, "dataBase64": None,
                               "contentType": None, "headers": {"x-rate-limit-remaining": "7"},
                               "creditsCharged": 3}
    assert media["value"]["success"] is True and media["value"]["creditsCharged"] == 1
    assert unknown_host["error"]["status"] == 400
    assert credits.balance(p.workspace) == start - 4
    portal.upstream.routes["/slow"] = slow(3)
    portal.upstream.routes["/drop"] = raw(b"")
    timed_out, dropped = sdk(("callApi", "twitter", {"path": "/slow"}),
                             ("callApi", "twitter", {"method": "DELETE", "path": "/drop"}))
    assert (timed_out["value"]["phase"], timed_out["value"]["status"],
            timed_out["value"]["creditsCharged"]) == ("timed_out", None, 1)
    assert timed_out["value"]["data"]["error"] == "request outcome unknown"
    assert (dropped["value"]["phase"], dropped["value"]["success"]) == ("sent_unconfirmed",
                                                                        False)
    assert credits.balance(p.workspace) == start - 6
    seen = [s for s in portal.upstream.seen if s.path == "/2/tweets"][-1]
    twitter = Connection.objects.get(integration_type="twitter")
    assert seen.headers["authorization"] == f"Bearer {twitter.access_token.reveal()}"

    # workspace-registered connector: admin registers, owner consents, SDK gets the token
    admin = _dashboard(portal, p.admin.email)
    resp = _post(admin, f"{portal.url}/w/{p.workspace.public_id}/connectors/", {
        "name": "Our OAuth app", "provider_type": "", "client_id": CLIENT_ID_2,
        "client_secret": CLIENT_SECRET_2, "authorize_url": provider.endpoint("/o/authorize/"),
        "token_url": provider.endpoint("/o/token/"),
        "revocation_url": provider.endpoint("/o/revoke_token/"), "scopes": "read write",
        "pkce": "on", "token_auth": "post"})
    assert resp.status_code == 302, resp.text[:1000]
    connector = WorkspaceConnector.objects.get(name="Our OAuth app")
    _connect(portal, owner, page, {"action": "connect-workspace",
                                   "connector_id": connector.public_id})
    [shared] = sdk(("getWorkspaceConnection", connector.public_id))
    assert provider.me(shared["value"]["accessToken"]) == 200

    # app user: connectAppUser -> our one-time link (sets the browser cookie) -> provider ->
    # callback in that same browser; token on behalf of; disconnect revokes
    [redirect] = sdk(("connectAppUser", connector.public_id), token=user_jwt)
    assert redirect["value"].startswith(portal.url + "/connectors/oauth/start/")
    browser = requests.Session()
    callback = provider.authorize(_open_link(browser, redirect["value"]), "bob")
    assert browser.get(callback, timeout=20).status_code == 200
    as_user = {"token": user_jwt}
    mine, legacy = sdk(("getCurrentAppUserConnection", connector.public_id),
                       ("getCurrentAppUserAccessToken", connector.public_id), **as_user)
    user_token = mine["value"]["accessToken"]
    assert legacy["value"] == user_token and provider.me(user_token) == 200
    [no_user] = sdk(("getCurrentAppUserConnection", connector.public_id))
    assert no_user["error"]["status"] == 401
    revokes = provider.stats().get("revoke", 0)
    [gone] = sdk(("disconnectAppUser", connector.public_id), **as_user)
    assert gone == {"ok": True, "value": "<undefined>"}
    assert provider.stats()["revoke"] == revokes + 2
    assert provider.me(user_token) in (401, 403)
    [after] = sdk(("getCurrentAppUserConnection", connector.public_id), **as_user)
    assert after["error"]["status"] == 404

    # dashboard disconnect of the platform connector: revoked, then 404 for the SDK
    access = conn.access_token.reveal()
    resp = _post(owner, page, {"action": "disconnect", "connection_id": str(conn.pk)})
    assert resp.status_code == 302
    assert provider.me(access) in (401, 403)
    [final] = sdk(("getConnection", "github"))
    assert final["error"]["status"] == 404

    # no client secret, refresh token, access token or PKCE verifier in the server's log
    never_logged = [CLIENT_SECRET, CLIENT_SECRET_2, old_refresh, access, user_token,
                    twitter.access_token.reveal(), twitter.refresh_token.reveal()]
    server_log = portal.log.read_text()
    assert [s for s in never_logged if s in server_log] == []
