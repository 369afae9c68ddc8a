"""A workspace connector's client secret is bound to the origins (scheme, host, port) it was
entered for: moving any URL the secret or tokens go to onto another origin needs the secret
typed again in the same save; a new path on the same origin does not."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from django.urls import reverse

from connectors import origins, services
from connectors.models import WorkspaceConnector
from secrets_vault.naming import SECRET_VALUE_MAX
from tests.integrations.egress_support import Upstream

from .support import expire, make_connection

pytestmark = pytest.mark.django_db

SECRET = "client-secret-CANARY-origin-5e2a"
NEW_SECRET = "client-secret-CANARY-origin-new-77f0"


def _token_ok(h) -> None:  # type: ignore[no-untyped-def]
    h.reply(200, b'{"access_token": "AT-new", "token_type": "Bearer", "expires_in": 3600}',
            [("Content-Type", "application/json")])


@pytest.fixture
def servers(settings):  # type: ignore[no-untyped-def]
    """(provider, attacker): two local token servers on different ports (origins)."""
    provider, attacker = Upstream(), Upstream()
    settings.EGRESS_ALLOW_CIDRS = ["127.0.0.0/8"]
    settings.EGRESS_ALLOWED_PORTS = [provider.port, attacker.port]
    for up in (provider, attacker):
        up.routes["/token"] = _token_ok
        up.routes["/v2/token"] = _token_ok
    yield provider, attacker
    provider.close()
    attacker.close()


def _connector(personas, provider: Upstream) -> WorkspaceConnector:  # type: ignore[no-untyped-def]
    return services.create_connector(
        personas.workspace, actor=personas.admin, name="Own", client_id="cid",
        client_secret=SECRET, authorize_url=provider.url("/authorize"),
        token_url=provider.url("/token"), revocation_url=provider.url("/revoke"), scopes="read")


def _refresh(personas, sdk, connector):  # type: ignore[no-untyped-def]
    conn = make_connection(personas.app, kind="workspace", connector=connector,
                           refresh="RT-CANARY-origin-0003")
    expire(conn)
    return sdk(personas.app).get(f"/api/apps/{personas.app.public_id}/external-auth/tokens/"
                                 f"connectors/{connector.public_id}")


def _secrets_seen(server: Upstream) -> list[str]:
    return [v for s in server.seen for v in parse_qs(s.body.decode()).get("client_secret", [])]


def test_moving_the_token_url_to_another_server_needs_the_secret_again_api(
        personas, api, sdk, servers):
    provider, attacker = servers
    connector = _connector(personas, provider)
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/connectors/{connector.public_id}/"
    resp = api(personas.admin).patch(url, {"token_url": attacker.url("/token")}, format="json")
    # the next refresh still goes to the provider, never to the other server
    assert _refresh(personas, sdk, connector).status_code == 200
    assert _secrets_seen(attacker) == []
    assert _secrets_seen(provider) == [SECRET]
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert body["code"] == "client_secret_required"
    assert "token_url" in body["errors"] or "client_secret" in body["errors"]
    assert "enter the client secret again" in body["detail"].lower()
    assert SECRET not in resp.content.decode()
    connector.refresh_from_db()
    assert connector.token_url == provider.url("/token")


@pytest.mark.parametrize("field", ["authorize_url", "revocation_url"])
def test_every_url_of_the_connector_is_bound(personas, api, servers, field):
    provider, attacker = servers
    connector = _connector(personas, provider)
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/connectors/{connector.public_id}/"
    resp = api(personas.admin).patch(url, {field: attacker.url("/x")}, format="json")
    assert resp.status_code == 400 and resp.json()["code"] == "client_secret_required"
    assert field in resp.json()["errors"]
    connector.refresh_from_db()
    assert getattr(connector, field) == provider.url("/authorize" if field == "authorize_url"
                                                     else "/revoke")


def test_the_new_origin_with_the_secret_typed_again_is_saved_api(personas, api, sdk, servers):
    provider, attacker = servers
    connector = _connector(personas, provider)
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/connectors/{connector.public_id}/"
    resp = api(personas.admin).patch(url, {"token_url": attacker.url("/token"),
                                           "authorize_url": attacker.url("/authorize"),
                                           "revocation_url": attacker.url("/revoke"),
                                           "client_secret": NEW_SECRET}, format="json")
    assert resp.status_code == 200, resp.content
    assert NEW_SECRET not in resp.content.decode()
    connector.refresh_from_db()
    assert connector.client_secret.reveal() == NEW_SECRET
    assert _refresh(personas, sdk, connector).status_code == 200
    assert _secrets_seen(attacker) == [NEW_SECRET]  # only the secret typed for it
    assert _secrets_seen(provider) == []


def test_a_new_path_on_the_same_origin_keeps_the_secret(personas, api, sdk, servers):
    provider, attacker = servers
    connector = _connector(personas, provider)
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/connectors/{connector.public_id}/"
    same = provider.url("/v2/token")
    resp = api(personas.admin).patch(url, {"token_url": same}, format="json")
    assert resp.status_code == 200, resp.content
    connector.refresh_from_db()
    assert connector.token_url == same and connector.client_secret.reveal() == SECRET
    assert _refresh(personas, sdk, connector).status_code == 200
    assert [s.path for s in provider.seen] == ["/v2/token"]
    assert _secrets_seen(provider) == [SECRET]


def test_moving_the_token_url_on_the_page_needs_the_secret_again(client, personas, sdk,
                                                                servers):
    provider, attacker = servers
    connector = _connector(personas, provider)
    client.force_login(personas.admin)
    page = reverse("connector-detail", args=[personas.workspace.public_id, connector.public_id])
    form = {"action": "update", "name": "Own", "provider_type": "",
            "authorize_url": connector.authorize_url, "token_url": attacker.url("/token"),
            "revocation_url": connector.revocation_url, "client_id": "cid",
            "scopes": "typed-scope", "pkce": "on", "token_auth": "post"}
    resp = client.post(page, form)
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "Enter the client secret again" in html
    assert f'value="{attacker.url("/token")}"' in html and 'value="typed-scope"' in html
    assert SECRET not in html
    connector.refresh_from_db()
    assert connector.token_url == provider.url("/token") and connector.scopes == "read"
    assert _refresh(personas, sdk, connector).status_code == 200
    assert _secrets_seen(attacker) == []

    saved = client.post(page, {**form, "client_secret": NEW_SECRET}, follow=True)
    assert b"Connector saved." in saved.content and NEW_SECRET not in saved.content.decode()
    connector.refresh_from_db()
    assert connector.token_url == attacker.url("/token")
    assert connector.client_secret.reveal() == NEW_SECRET


def test_origins_compare_normalised():
    origin = origins.url_origin
    assert origin("https://Auth.Example.COM/t") == origin("https://auth.example.com:443/x")
    assert origin("http://a.example.com/t") == origin("HTTP://a.example.com:80/")
    assert origin("https://a.example.com/t") != origin("http://a.example.com/t")
    assert origin("https://a.example.com/t") != origin("https://a.example.com:8443/t")
    assert origin("https://a.example.com/t") != origin("https://b.example.com/t")


def test_changing_the_provider_type_moves_the_default_urls(personas, api, settings):
    """The secret goes to the provider's own URLs when the connector leaves them blank."""
    connector = services.create_connector(personas.workspace, actor=personas.admin, name="GH",
                                          client_id="cid", client_secret=SECRET,
                                          provider_type="github")
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/connectors/{connector.public_id}/"
    resp = api(personas.admin).patch(url, {"provider_type": "gitlab"}, format="json")
    assert resp.status_code == 400 and resp.json()["code"] == "client_secret_required"
    connector.refresh_from_db()
    assert connector.provider_type == "github"


def test_a_per_account_provider_connector_is_bound_to_its_account_host(personas, api):
    """Providers whose URLs hold the account (Zendesk's {subdomain}): another account's host
    is another origin."""
    connector = services.create_connector(
        personas.workspace, actor=personas.admin, name="ZD", client_id="cid",
        client_secret=SECRET, provider_type="zendesk",
        authorize_url="https://acme.zendesk.com/oauth/authorizations/new",
        token_url="https://acme.zendesk.com/oauth/tokens")
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/connectors/{connector.public_id}/"
    admin = api(personas.admin)
    moved = admin.patch(url, {"token_url": "https://evil.zendesk.com/oauth/tokens"},
                        format="json")
    assert moved.status_code == 400 and moved.json()["errors"].keys() == {"token_url"}
    same_host = admin.patch(url, {"token_url": "https://ACME.zendesk.com:443/oauth/tokens"},
                            format="json")
    assert same_host.status_code == 200, same_host.content
    connector.refresh_from_db()
    assert connector.client_secret.reveal() == SECRET


def test_a_connector_without_a_secret_may_move(personas, api, servers):
    provider, attacker = servers
    connector = services.create_connector(
        personas.workspace, actor=personas.admin, name="Public", client_id="cid",
        client_secret="", authorize_url=provider.url("/a"), token_url=provider.url("/token"))
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/connectors/{connector.public_id}/"
    resp = api(personas.admin).patch(url, {"token_url": attacker.url("/token")}, format="json")
    assert resp.status_code == 200


def test_a_secret_bound_elsewhere_is_never_sent(client, personas, sdk, servers):
    """Even a URL changed behind the service's back (Django admin, shell) cannot receive it."""
    provider, attacker = servers
    connector = _connector(personas, provider)
    WorkspaceConnector.objects.filter(pk=connector.pk).update(token_url=attacker.url("/token"))
    connector.refresh_from_db()
    resp = _refresh(personas, sdk, connector)
    assert resp.status_code >= 400 and SECRET not in resp.content.decode()
    assert attacker.seen == [] and provider.seen == []
    client.force_login(personas.admin)
    page = client.get(reverse("connector-detail", args=[personas.workspace.public_id,
                                                        connector.public_id]))
    assert b'data-testid="secret-unbound"' in page.content
    services.rotate_client_secret(connector, actor=personas.admin, client_secret=NEW_SECRET)
    again = sdk(personas.app).get(f"/api/apps/{personas.app.public_id}/external-auth/tokens/"
                                  f"connectors/{connector.public_id}")
    assert again.status_code == 200, again.content
    assert _secrets_seen(attacker) == [NEW_SECRET]


# ---------------------------------------------------------------- LOW: the vault's length cap


def test_too_long_secret_is_refused_on_the_page_keeping_input(client, personas):
    client.force_login(personas.admin)
    too_long = "S" * (SECRET_VALUE_MAX + 1)
    resp = client.post(reverse("connectors", args=[personas.workspace.public_id]), {
        "name": "Typed name", "provider_type": "", "authorize_url": "https://a.example.com/a",
        "token_url": "https://a.example.com/t", "revocation_url": "", "client_id": "typed-id",
        "client_secret": too_long, "scopes": "s1", "token_auth": "post"})
    assert resp.status_code == 200
    html = resp.content.decode()
    assert f"{SECRET_VALUE_MAX} characters" in html
    assert 'value="Typed name"' in html and 'value="typed-id"' in html
    assert too_long not in html
    assert not WorkspaceConnector.objects.exists()


def test_too_long_secret_is_refused_by_the_api(personas, api):
    ws = personas.workspace.public_id
    admin = api(personas.admin)
    too_long = "S" * (SECRET_VALUE_MAX + 1)
    made = admin.post(f"/api/v1/workspaces/{ws}/connectors/", {
        "name": "Snow", "client_id": "x", "client_secret": too_long,
        "authorize_url": "https://s.example.com/a", "token_url": "https://s.example.com/t"},
        format="json")
    assert made.status_code == 400 and "client_secret" in made.json()["errors"]
    assert f"{SECRET_VALUE_MAX} characters" in made.json()["detail"]
    assert too_long not in made.content.decode()
    assert not WorkspaceConnector.objects.exists()
    ok = services.create_connector(personas.workspace, actor=personas.admin, name="Ok",
                                   client_id="x", client_secret="s",
                                   authorize_url="https://s.example.com/a",
                                   token_url="https://s.example.com/t")
    base = f"/api/v1/workspaces/{ws}/connectors/{ok.public_id}/"
    rotate = admin.post(base + "rotate-secret/", {"client_secret": too_long}, format="json")
    assert rotate.status_code == 400 and "client_secret" in rotate.json()["errors"]
    patched = admin.patch(base, {"client_secret": too_long}, format="json")
    assert patched.status_code == 400 and "client_secret" in patched.json()["errors"]
    ok.refresh_from_db()
    assert ok.client_secret.reveal() == "s"
