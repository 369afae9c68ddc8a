"""Reconnect replaces the stored tokens and revokes the replaced ones at the provider (as
Disconnect does); a revocation failure never fails the reconnect. Against the real OAuth test
provider (django-oauth-toolkit): the old refresh token is refused by the provider itself."""

from __future__ import annotations

import logging

import pytest
import requests
from django.urls import reverse

from connectors import oauth
from connectors.models import Connection

from .conftest import CLIENT_ID, CLIENT_ID_2, CLIENT_SECRET, CLIENT_SECRET_2, Provider, local_path
from .support import connect_platform, register_connector

pytestmark = pytest.mark.django_db


def _refresh_at_provider(provider: Provider, refresh_token: str) -> requests.Response:
    """Use a refresh token directly at the provider, as anyone holding it could."""
    return requests.post(provider.endpoint("/o/token/"),
                         data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                         auth=(CLIENT_ID, CLIENT_SECRET), timeout=10)


def _tokens(conn: Connection) -> tuple[str, str]:
    assert conn.refresh_token is not None
    return conn.access_token.reveal(), conn.refresh_token.reveal()


def test_reconnect_revokes_the_replaced_grant_at_the_provider(client, personas,
                                                              connector_settings,
                                                              oauth_provider):
    client.force_login(personas.owner)
    old = [_tokens(connect_platform(client, oauth_provider, personas.app))]
    for _ in range(3):
        old.append(_tokens(connect_platform(client, oauth_provider, personas.app)))
    assert Connection.objects.count() == 1
    access, refresh = old.pop()
    for old_access, old_refresh in old:
        assert old_refresh != refresh
        resp = _refresh_at_provider(oauth_provider, old_refresh)
        assert resp.status_code == 400, resp.text  # the provider refuses the old grant
        assert resp.json()["error"] == "invalid_grant"
        assert oauth_provider.me(old_access) in (401, 403)
    # the current grant is untouched
    assert oauth_provider.me(access) == 200
    assert _refresh_at_provider(oauth_provider, refresh).status_code == 200


def test_reconnect_succeeds_when_revocation_fails(client, personas, connector_settings,
                                                  oauth_provider, caplog, monkeypatch):
    client.force_login(personas.owner)
    first = _tokens(connect_platform(client, oauth_provider, personas.app))
    # the provider's revocation endpoint is gone: 404
    overrides = connector_settings.CONNECTOR_PROVIDER_OVERRIDES
    overrides["github"] = {**overrides["github"],
                           "revocation_url": oauth_provider.endpoint("/o/no-such-revoke/")}
    connector_settings.CONNECTOR_PROVIDER_OVERRIDES = overrides
    with caplog.at_level(logging.DEBUG):
        second = _tokens(connect_platform(client, oauth_provider, personas.app))
    assert Connection.objects.get().access_token.reveal() == second[0] != first[0]
    assert oauth_provider.me(second[0]) == 200
    assert "revoke" in caplog.text.lower()
    for token in (*first, *second):
        assert token not in caplog.text

    # revocation raising (a bug, an unexpected error) does not fail the reconnect either
    def boom(*args, **kwargs):
        raise RuntimeError("revocation exploded")

    monkeypatch.setattr(oauth, "revoke", boom)
    caplog.clear()
    with caplog.at_level(logging.DEBUG):
        third = _tokens(connect_platform(client, oauth_provider, personas.app))
    assert Connection.objects.get().access_token.reveal() == third[0]
    assert oauth_provider.me(third[0]) == 200
    for token in (*second, *third):
        assert token not in caplog.text


def _connect_workspace(client, provider: Provider, app, connector) -> Connection:
    resp = client.post(reverse("app-connectors", args=[app.workspace.public_id, app.public_id]),
                       {"action": "connect-workspace", "connector_id": connector.public_id})
    assert resp.status_code == 302, resp.content[:300]
    assert client.get(local_path(provider.authorize(resp["Location"]))).status_code == 302
    return Connection.objects.get(app=app, kind="workspace", connector=connector)


def test_reconnecting_a_workspace_connector_revokes_the_old_grant(client, personas,
                                                                  connector_settings,
                                                                  oauth_provider):
    connector = register_connector(personas.workspace, personas.admin, oauth_provider)
    client.force_login(personas.owner)
    old_access, old_refresh = _tokens(_connect_workspace(client, oauth_provider, personas.app,
                                                         connector))
    access, _ = _tokens(_connect_workspace(client, oauth_provider, personas.app, connector))
    resp = requests.post(oauth_provider.endpoint("/o/token/"),
                         data={"grant_type": "refresh_token", "refresh_token": old_refresh},
                         auth=(CLIENT_ID_2, CLIENT_SECRET_2), timeout=10)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant"
    assert oauth_provider.me(old_access) in (401, 403)
    assert oauth_provider.me(access) == 200
