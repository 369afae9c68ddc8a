"""Provider URLs go through the egress guard; token and revocation endpoints are never followed
through a redirect, so codes, refresh tokens and client secrets never reach the redirect target."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connectors import oauth, services
from connectors.models import Connection, OAuthState, WorkspaceConnector
from tests.integrations.egress_support import Upstream, redirect

from .support import expire, make_connection

pytestmark = pytest.mark.django_db

SECRET = "client-secret-CANARY-redirect-3c1d"


@pytest.fixture
def upstreams(settings):  # type: ignore[no-untyped-def]
    """(provider, elsewhere): the provider's token/revoke endpoints redirect to elsewhere."""
    provider, elsewhere = Upstream(), Upstream()
    settings.EGRESS_ALLOW_CIDRS = ["127.0.0.0/8"]
    settings.EGRESS_ALLOWED_PORTS = [provider.port, elsewhere.port]
    for status in (302, 307, 308):
        provider.routes[f"/token{status}"] = redirect(elsewhere.url("/steal"), status)
        provider.routes[f"/revoke{status}"] = redirect(elsewhere.url("/steal"), status)
    yield provider, elsewhere
    provider.close()
    elsewhere.close()


def _connector(personas, provider: Upstream, status: int) -> WorkspaceConnector:  # type: ignore[no-untyped-def]
    return services.create_connector(
        personas.workspace, actor=personas.admin, name=f"Redirecting {status}", client_id="cid",
        client_secret=SECRET, authorize_url=provider.url("/authorize"),
        token_url=provider.url(f"/token{status}"), revocation_url=provider.url(f"/revoke{status}"),
        scopes="read", token_auth="basic" if status == 307 else "post")


@pytest.mark.parametrize("status", [302, 307, 308])
def test_code_exchange_does_not_follow_a_redirect(personas, upstreams, status):
    provider, elsewhere = upstreams
    connector = _connector(personas, provider, status)
    auth = services.start_workspace_connect(personas.app, connector, actor=personas.owner,
                                            redirect_uri="http://testserver/cb")
    state = oauth_state(auth.url)
    with pytest.raises(services.ConnectorError) as exc:
        services.complete_authorization(state, code="CODE-CANARY-0001", user=personas.owner,
                                        browser_nonce=auth.browser_nonce)
    assert exc.value.code == "token_exchange_failed"
    assert "(endpoint_redirected)" in exc.value.message
    assert "CODE-CANARY-0001" not in exc.value.message and SECRET not in exc.value.message
    assert [s.path for s in provider.seen] == [f"/token{status}"]
    assert elsewhere.seen == []  # neither the code nor the client secret went anywhere else
    assert not Connection.objects.exists()


@pytest.mark.parametrize("status", [302, 307, 308])
def test_refresh_and_revocation_do_not_follow_a_redirect(personas, sdk, upstreams, status):
    provider, elsewhere = upstreams
    connector = _connector(personas, provider, status)
    conn = make_connection(personas.app, kind="workspace", connector=connector,
                           refresh="RT-CANARY-redirect-0002")
    expire(conn)
    resp = sdk(personas.app).get(f"/api/apps/{personas.app.public_id}/external-auth/tokens/"
                                 f"connectors/{connector.public_id}")
    assert resp.status_code == 502 and resp.json()["code"] == "connector_refresh_failed"
    assert "RT-CANARY" not in resp.content.decode()
    conn.refresh_from_db()
    assert conn.last_error == "endpoint_redirected"

    assert services.disconnect(conn, actor=personas.owner) is False  # not revoked
    assert [s.path for s in provider.seen] == [f"/token{status}", f"/revoke{status}",
                                               f"/revoke{status}"]
    assert elsewhere.seen == []


def oauth_state(authorize_url: str) -> str:
    from .conftest import query_of

    return query_of(authorize_url)["state"]


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data", "http://10.0.0.5/t",
                                 "http://[::1]/t", "file:///etc/passwd",
                                 "http://user:pw@auth.example.com/t"])
def test_registered_connector_urls_must_pass_the_guard(personas, url):
    for field in ("authorize_url", "token_url", "revocation_url"):
        values = {"authorize_url": "https://auth.example.com/a",
                  "token_url": "https://auth.example.com/t", field: url}
        with pytest.raises(services.ConnectorError) as exc:
            services.create_connector(personas.workspace, actor=personas.admin, name="Bad",
                                      client_id="c", client_secret="s", **values)
        assert exc.value.code == "invalid_url"
    assert not WorkspaceConnector.objects.exists()


def test_platform_provider_pointing_inside_is_refused(client, personas, sdk, settings):
    """Even a provider entry (file or override) cannot make us call a private address."""
    settings.CONNECTOR_CLIENTS = {"github": {"client_id": "x", "client_secret": SECRET}}
    settings.EGRESS_ALLOW_CIDRS = []
    settings.CONNECTOR_PROVIDER_OVERRIDES = {"github": {
        "authorize_url": "http://169.254.169.254/authorize",
        "token_url": "http://169.254.169.254/token"}}
    client.force_login(personas.owner)
    page = reverse("app-connectors", args=[personas.workspace.public_id, personas.app.public_id])
    resp = client.post(page, {"action": "connect", "integration_type": "github"}, follow=True)
    assert b"The authorization URL is not allowed" in resp.content
    assert not OAuthState.objects.exists()

    conn = make_connection(personas.app)
    expire(conn)
    got = sdk(personas.app).get(f"/api/apps/{personas.app.public_id}/external-auth/tokens/github")
    assert got.status_code == 502
    conn.refresh_from_db()
    assert conn.last_error == "endpoint_blocked"


def test_token_error_messages_never_carry_secrets():
    err = oauth.OAuthError("invalid_grant", "x" * 500)
    assert len(err.description) == 200
