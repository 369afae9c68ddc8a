"""A workspace-registered connector against the real authorization server: a rotated client
secret is what the next refresh uses; deleting the connector revokes every token made through
it (shared and app users') and apps then get 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connectors.models import Connection, WorkspaceConnector

from .conftest import CLIENT_SECRET_2, local_path
from .support import expire, open_link, register_connector

pytestmark = pytest.mark.django_db


def _consent(client, personas, oauth_provider, connector) -> Connection:  # type: ignore[no-untyped-def]
    client.force_login(personas.owner)
    resp = client.post(reverse("app-connectors", args=[personas.workspace.public_id,
                                                       personas.app.public_id]),
                       {"action": "connect-workspace", "connector_id": connector.public_id})
    assert client.get(local_path(oauth_provider.authorize(resp["Location"]))).status_code == 302
    return Connection.objects.get(kind="workspace", connector=connector)


def test_rotated_client_secret_is_used_for_the_next_refresh(client, personas, sdk,
                                                            connector_settings, oauth_provider):
    connector = register_connector(personas.workspace, personas.admin, oauth_provider)
    conn = _consent(client, personas, oauth_provider, connector)
    url = (f"/api/apps/{personas.app.public_id}/external-auth/tokens/connectors/"
           f"{connector.public_id}")
    detail = reverse("connector-detail", args=[personas.workspace.public_id,
                                               connector.public_id])
    client.force_login(personas.admin)
    client.post(detail, {"action": "rotate", "client_secret": "not-what-the-provider-has"})
    expire(conn)
    refused = sdk(personas.app).get(url)
    assert refused.status_code == 502 and "invalid_client" in refused.json()["detail"]
    assert "not-what-the-provider-has" not in refused.content.decode()

    client.post(detail, {"action": "rotate", "client_secret": CLIENT_SECRET_2})
    got = sdk(personas.app).get(url)
    assert got.status_code == 200 and oauth_provider.me(got.json()["access_token"]) == 200


def test_deleting_a_connector_revokes_its_tokens(client, personas, sdk, connector_settings,
                                                 oauth_provider):
    connector = register_connector(personas.workspace, personas.admin, oauth_provider)
    _consent(client, personas, oauth_provider, connector)
    redirect = sdk(personas.app, "user-1").post(
        f"/api/apps/{personas.app.public_id}/app-user-auth/connectors/{connector.public_id}"
        "/initiate").json()["redirect_url"]
    callback = oauth_provider.authorize(open_link(client, redirect), "bob")
    assert client.get(local_path(callback)).status_code == 200
    tokens = [c.access_token.reveal() for c in Connection.objects.filter(connector=connector)]
    assert len(tokens) == 2 and all(oauth_provider.me(t) == 200 for t in tokens)

    client.force_login(personas.admin)
    detail = reverse("connector-detail", args=[personas.workspace.public_id,
                                               connector.public_id])
    page = client.get(detail).content.decode()
    assert 'data-testid="delete-warning"' in page and personas.app.name in page
    revokes = oauth_provider.stats().get("revoke", 0)
    resp = client.post(detail, {"action": "delete"}, follow=True)
    assert "deleted" in resp.content.decode()
    assert not WorkspaceConnector.objects.exists() and not Connection.objects.exists()
    assert oauth_provider.stats()["revoke"] == revokes + 4  # refresh + access, twice
    assert all(oauth_provider.me(t) in (401, 403) for t in tokens)
    got = sdk(personas.app).get(f"/api/apps/{personas.app.public_id}/external-auth/tokens/"
                                f"connectors/{connector.public_id}")
    assert got.status_code == 404
