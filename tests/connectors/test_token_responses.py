"""Provider quirks of the token response, against a local token endpoint: Slack's user token
nested under ``authed_user``, Salesforce's ``instance_url`` handed out as connection config,
and error answers sent with HTTP 200."""

from __future__ import annotations

import json

import pytest

from connectors import oauth, services
from connectors.models import Connection
from tests.integrations.egress_support import Upstream

from .conftest import query_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def token_endpoint(settings):  # type: ignore[no-untyped-def]
    server = Upstream()
    settings.EGRESS_ALLOW_CIDRS = ["127.0.0.0/8"]
    settings.EGRESS_ALLOWED_PORTS = [443, server.port]
    yield server
    server.close()


def _answer(server: Upstream, payload: dict) -> None:  # type: ignore[type-arg]
    server.routes["/token"] = lambda h: h.reply(200, json.dumps(payload).encode(),
                                                [("Content-Type", "application/json")])


def _connect(personas, type_: str, server: Upstream, settings) -> Connection:  # type: ignore[no-untyped-def]
    settings.CONNECTOR_CLIENTS = {type_: {"client_id": "cid", "client_secret": "cs"}}
    settings.CONNECTOR_PROVIDER_OVERRIDES = {type_: {"token_url": server.url("/token")}}
    auth = services.start_platform_connect(personas.app, type_, actor=personas.owner,
                                           redirect_uri="http://testserver/cb")
    return services.complete_authorization(query_of(auth.url)["state"], code="c",
                                           user=personas.owner, browser_nonce=auth.browser_nonce)


def test_slack_user_token_is_the_authed_users(personas, sdk, token_endpoint, settings):
    _answer(token_endpoint, {
        "ok": True, "access_token": "xoxb-BOT", "token_type": "bot", "scope": "chat:write",
        "authed_user": {"id": "U1", "access_token": "xoxp-USER", "token_type": "user",
                        "scope": "channels:read,chat:write", "refresh_token": "xoxe-R",
                        "expires_in": 43200}})
    conn = _connect(personas, "slack", token_endpoint, settings)
    assert conn.access_token.reveal() == "xoxp-USER"
    assert conn.refresh_token.reveal() == "xoxe-R" and conn.expires_at is not None
    assert conn.scopes == "channels:read,chat:write"
    sent = query_of("http://x/?" + token_endpoint.seen[0].body.decode())
    assert (sent["grant_type"], sent["code"]) == ("authorization_code", "c")
    got = sdk(personas.app).get(f"/api/apps/{personas.app.public_id}/external-auth/tokens/slack")
    assert got.json()["access_token"] == "xoxp-USER"


def test_slackbot_keeps_the_top_level_bot_token(personas, token_endpoint, settings):
    _answer(token_endpoint, {"ok": True, "access_token": "xoxb-BOT", "token_type": "bot",
                             "authed_user": {"id": "U1"}})
    assert _connect(personas, "slackbot", token_endpoint, settings
                    ).access_token.reveal() == "xoxb-BOT"


def test_salesforce_instance_url_becomes_connection_config(personas, sdk, token_endpoint,
                                                           settings):
    _answer(token_endpoint, {"access_token": "00D-AT", "refresh_token": "5Aep-RT",
                             "instance_url": "https://acme.my.salesforce.com",
                             "token_type": "Bearer", "id": "https://login.salesforce.com/id/x"})
    _connect(personas, "salesforce", token_endpoint, settings)
    got = sdk(personas.app).get(f"/api/apps/{personas.app.public_id}/external-auth/tokens/"
                                "salesforce").json()
    assert got["connection_config"] == {"instance_url": "https://acme.my.salesforce.com"}
    assert "5Aep-RT" not in json.dumps(got)


def test_an_error_sent_with_http_200_is_an_error(personas, token_endpoint, settings):
    _answer(token_endpoint, {"ok": False, "error": "invalid_code"})
    with pytest.raises(services.ConnectorError) as exc:
        _connect(personas, "slack", token_endpoint, settings)
    assert "(invalid_code)" in exc.value.message
    assert not Connection.objects.exists()


def test_token_set_repr_shows_no_token():
    tokens = oauth.TokenSet("AT-secret", "RT-secret", "Bearer", None, "read", {})
    assert "secret" not in repr(tokens)
