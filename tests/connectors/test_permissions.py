"""The permission matrix, from the wrong side, for every connector endpoint and page."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from connectors.models import Connection, WorkspaceConnector
from workspaces import services as ws_services

from .support import make_connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def connector(personas) -> WorkspaceConnector:  # type: ignore[no-untyped-def]
    return WorkspaceConnector.objects.create(
        workspace=personas.workspace, name="Own", client_id="cid", client_secret="s3cret",
        authorize_url="https://auth.example.com/a", token_url="https://auth.example.com/t")


def _sdk_routes(app_id: str, connector_id: str) -> dict[str, tuple[str, str]]:
    base = f"/api/apps/{app_id}"
    return {
        "platform": ("get", f"{base}/external-auth/tokens/github"),
        "workspace": ("get", f"{base}/external-auth/tokens/connectors/{connector_id}"),
        "app_user_token": ("get", f"{base}/app-user-auth/connectors/{connector_id}/token"),
        "call": ("post", f"{base}/connectors/twitter/call"),
        "initiate": ("post", f"{base}/app-user-auth/connectors/{connector_id}/initiate"),
        "disconnect": ("delete", f"{base}/app-user-auth/connectors/{connector_id}"),
    }


SERVICE_ONLY = ("platform", "workspace", "app_user_token", "call")
APP_USER_ONLY = ("initiate", "disconnect")


def _send(client: APIClient, method: str, url: str):  # type: ignore[no-untyped-def]
    if method == "post":
        return client.post(url, {"path": "/x"}, format="json")
    return getattr(client, method)(url)


@pytest.mark.parametrize("route", SERVICE_ONLY + APP_USER_ONLY)
def test_anonymous_is_401(personas, sdk, connector, route):
    method, url = _sdk_routes(personas.app.public_id, connector.public_id)[route]
    resp = _send(sdk(None), method, url)
    assert resp.status_code == 401 and resp["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("route", SERVICE_ONLY + APP_USER_ONLY)
def test_revoked_service_token_is_401(personas, connector, route):
    row, raw = ws_services.create_service_token(personas.app, actor=personas.owner, name="x")
    ws_services.revoke_service_token(row, actor=personas.owner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    method, url = _sdk_routes(personas.app.public_id, connector.public_id)[route]
    assert _send(client, method, url).status_code == 401


@pytest.mark.parametrize("route", SERVICE_ONLY + APP_USER_ONLY)
def test_another_apps_token_is_404(personas, sdk, connector, route):
    method, url = _sdk_routes(personas.app.public_id, connector.public_id)[route]
    assert _send(sdk(personas.outsider_app), method, url).status_code == 404
    assert _send(sdk(personas.outsider_app, "u1"), method, url).status_code == 404


@pytest.mark.parametrize("route", SERVICE_ONLY)
def test_app_user_token_where_service_needed_is_403(personas, sdk, connector, route):
    make_connection(personas.app)
    method, url = _sdk_routes(personas.app.public_id, connector.public_id)[route]
    resp = _send(sdk(personas.app, "user-1"), method, url)
    assert resp.status_code == 403
    assert resp.json()["detail"] == "This endpoint is only accessible to service tokens"
    assert "AT-plain" not in resp.content.decode()


@pytest.mark.parametrize("route", APP_USER_ONLY)
def test_service_token_where_app_user_needed_is_403(personas, sdk, connector, route):
    method, url = _sdk_routes(personas.app.public_id, connector.public_id)[route]
    assert _send(sdk(personas.app), method, url).status_code == 403


def test_app_user_token_needs_on_behalf_of(personas, sdk, connector):
    make_connection(personas.app, kind="app_user", connector=connector,
                    app_user=personas.app.app_users.create(external_id="user-1"))
    url = _sdk_routes(personas.app.public_id, connector.public_id)["app_user_token"][1]
    resp = sdk(personas.app).get(url)
    assert resp.status_code == 401 and "on-behalf-of" in resp.json()["detail"]
    service = sdk(personas.app)
    auth = service._credentials["HTTP_AUTHORIZATION"]
    other = ws_services.mint_app_user_token(personas.outsider_app, "user-1").token
    service.credentials(HTTP_AUTHORIZATION=auth, HTTP_ON_BEHALF_OF=f"Bearer {other}")
    assert service.get(url).status_code == 401


def test_connector_of_another_workspace_is_404(personas, sdk):
    foreign = WorkspaceConnector.objects.create(
        workspace=personas.outsider_workspace, name="Theirs", client_id="c",
        authorize_url="https://a.example.com/a", token_url="https://a.example.com/t")
    make_connection(personas.outsider_app, kind="workspace", connector=foreign)
    routes = _sdk_routes(personas.app.public_id, foreign.public_id)
    assert sdk(personas.app).get(routes["workspace"][1]).status_code == 404
    assert sdk(personas.app, "u").post(routes["initiate"][1]).status_code == 404


def test_not_connected_is_404_with_code(personas, sdk, connector):
    routes = _sdk_routes(personas.app.public_id, connector.public_id)
    for name in ("platform", "workspace"):
        resp = sdk(personas.app).get(routes[name][1])
        assert resp.status_code == 404 and resp.json()["code"] == "NOT_FOUND"


# --------------------------------------------------------------------------- dashboard


def _pages(personas, connector) -> dict[str, str]:  # type: ignore[no-untyped-def]
    ws, app = personas.workspace.public_id, personas.app.public_id
    return {
        "app": reverse("app-connectors", args=[ws, app]),
        "workspace": reverse("connectors", args=[ws]),
        "detail": reverse("connector-detail", args=[ws, connector.public_id]),
    }


@pytest.mark.parametrize("page", ["app", "workspace", "detail"])
def test_pages_anonymous_redirects_to_login(client, personas, connector, page):
    resp = client.get(_pages(personas, connector)[page])
    assert resp.status_code == 302 and "/login/" in resp["Location"]


@pytest.mark.parametrize("page", ["app", "workspace", "detail"])
def test_pages_hide_from_outsiders(client, personas, connector, page):
    client.force_login(personas.outsider)
    url = _pages(personas, connector)[page]
    assert client.get(url).status_code == 404
    assert client.post(url, {"action": "delete"}).status_code == 404


@pytest.mark.parametrize("page", ["app", "workspace", "detail"])
def test_members_see_but_cannot_change(client, personas, connector, page):
    client.force_login(personas.member)
    url = _pages(personas, connector)[page]
    assert client.get(url).status_code == 200
    assert client.post(url, {"action": "delete", "name": "x"}).status_code == 403
    assert WorkspaceConnector.objects.filter(pk=connector.pk).exists()


def test_admin_registers_edits_and_deletes(client, personas, connector):
    client.force_login(personas.admin)
    pages = _pages(personas, connector)
    resp = client.post(pages["workspace"], {
        "name": "Snowflake", "provider_type": "", "authorize_url": "https://sf.example.com/a",
        "token_url": "https://sf.example.com/t", "revocation_url": "", "client_id": "sfid",
        "client_secret": "sf-secret-CANARY", "scopes": "session:role:x", "pkce": "on",
        "token_auth": "basic"})
    assert resp.status_code == 302
    created = WorkspaceConnector.objects.get(name="Snowflake")
    assert created.client_secret.reveal() == "sf-secret-CANARY"
    resp = client.post(pages["detail"], {"action": "rotate", "client_secret": "new-secret"})
    assert resp.status_code == 302
    connector.refresh_from_db()
    assert connector.client_secret.reveal() == "new-secret"
    assert client.post(pages["detail"], {"action": "delete"}).status_code == 302
    assert not WorkspaceConnector.objects.filter(pk=connector.pk).exists()


def test_connector_of_other_workspace_page_is_404(client, personas):
    foreign = WorkspaceConnector.objects.create(
        workspace=personas.outsider_workspace, name="Theirs", client_id="c",
        authorize_url="https://a.example.com/a", token_url="https://a.example.com/t")
    client.force_login(personas.admin)
    url = reverse("connector-detail", args=[personas.workspace.public_id, foreign.public_id])
    assert client.get(url).status_code == 404


def test_member_who_created_the_app_manages_its_connectors(client, personas, settings):
    from tests.factories import make_app

    settings.CONNECTOR_CLIENTS = {"github": {"client_id": "x", "client_secret": "y"}}
    mine = make_app(personas.workspace, personas.member, "Mine")
    client.force_login(personas.member)
    url = reverse("app-connectors", args=[personas.workspace.public_id, mine.public_id])
    resp = client.post(url, {"action": "connect", "integration_type": "github"})
    assert resp.status_code == 302 and resp["Location"].startswith("https://github.com/")


def test_revoked_app_user_token_is_401_everywhere_it_is_used(personas, sdk, connector):
    app = personas.app
    user = app.app_users.create(external_id="user-1")
    make_connection(app, kind="app_user", connector=connector, app_user=user)
    raw = ws_services.mint_app_user_token(app, "user-1").token
    ws_services.revoke_app_user_token(app, raw)
    routes = _sdk_routes(app.public_id, connector.public_id)
    as_user = APIClient()
    as_user.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    for name in APP_USER_ONLY:
        method, url = routes[name]
        assert _send(as_user, method, url).status_code == 401
    service = sdk(app)
    service.credentials(HTTP_AUTHORIZATION=service._credentials["HTTP_AUTHORIZATION"],
                        HTTP_ON_BEHALF_OF=f"Bearer {raw}")
    resp = service.get(routes["app_user_token"][1])
    assert resp.status_code == 401 and "AT-plain" not in resp.content.decode()
    assert Connection.objects.filter(kind="app_user").exists()  # nothing was disconnected


def test_member_cannot_connect_or_disconnect_anothers_app(client, personas, settings):
    settings.CONNECTOR_CLIENTS = {"github": {"client_id": "x", "client_secret": "y"}}
    conn = make_connection(personas.app)
    client.force_login(personas.member)
    url = reverse("app-connectors", args=[personas.workspace.public_id, personas.app.public_id])
    assert client.post(url, {"action": "connect", "integration_type": "github"}
                       ).status_code == 403
    assert client.post(url, {"action": "disconnect", "connection_id": conn.pk}
                       ).status_code == 403
    assert Connection.objects.filter(pk=conn.pk).exists()
    html = client.get(url).content.decode()
    assert 'value="disconnect"' not in html and "AT-plain" not in html


def test_admin_api_connections_wrong_side(api, personas):
    url = (f"/api/v1/workspaces/{personas.workspace.public_id}/apps/"
           f"{personas.outsider_app.public_id}/connections/")
    assert api(personas.owner).get(url).status_code == 404  # another workspace's app
    assert api(None).get(url).status_code in (401, 403)


def test_admin_api_connector_detail_wrong_side(api, personas, connector):
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/connectors/{connector.public_id}/"
    outsider, member, anonymous = api(personas.outsider), api(personas.member), api(None)
    assert outsider.get(url).status_code == 404
    assert outsider.patch(url, {"name": "x"}, format="json").status_code == 404
    assert outsider.delete(url).status_code == 404
    assert outsider.post(url + "rotate-secret/", {"client_secret": "n"}).status_code == 404
    assert member.get(url).status_code == 200
    assert member.patch(url, {"name": "x"}, format="json").status_code == 403
    assert member.delete(url).status_code == 403
    for method in ("get", "patch", "delete"):
        assert getattr(anonymous, method)(url).status_code in (401, 403)
    assert anonymous.post(url + "rotate-secret/", {"client_secret": "n"}).status_code in (401,
                                                                                        403)
    connector.refresh_from_db()
    assert connector.name == "Own" and connector.client_secret.reveal() == "s3cret"
    foreign = f"/api/v1/workspaces/{personas.outsider_workspace.public_id}/connectors/" \
              f"{connector.public_id}/"
    assert api(personas.outsider).get(foreign).status_code == 404  # not theirs either


def test_callback_of_a_dashboard_flow_needs_the_signed_in_user(client, personas, settings):
    from urllib.parse import parse_qs, urlsplit

    from connectors import services
    from connectors.models import OAuthState

    settings.CONNECTOR_CLIENTS = {"github": {"client_id": "x", "client_secret": "y"}}
    url = services.start_platform_connect(personas.app, "github", actor=personas.owner,
                                          redirect_uri="http://testserver/cb").url
    state = parse_qs(urlsplit(url).query)["state"][0]
    callback = reverse("connectors-oauth-callback") + f"?state={state}&code=c"
    resp = client.get(callback)
    assert resp.status_code == 302 and "/login/" in resp["Location"]
    assert OAuthState.objects.get().used_at is None  # still usable once signed in
    client.force_login(personas.outsider)
    resp = client.get(callback)
    assert resp.status_code == 400 and b"started by another user" in resp.content
    assert personas.workspace.public_id not in resp.content.decode()  # no way into it
    assert not Connection.objects.exists()
