"""Dashboard pages (status, warnings, links) and the admin API of connectors."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connectors import services
from connectors.models import Connection, WorkspaceConnector

from .support import make_connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def connector(personas) -> WorkspaceConnector:  # type: ignore[no-untyped-def]
    return services.create_connector(
        personas.workspace, actor=personas.admin, name="Own", client_id="cid",
        client_secret="CANARY-secret-0001", authorize_url="https://auth.example.com/a",
        token_url="https://auth.example.com/t")


def test_nav_and_app_page_link_to_connectors(client, personas):
    client.force_login(personas.owner)
    ws, app = personas.workspace.public_id, personas.app.public_id
    page = client.get(reverse("app-detail", args=[ws, app])).content.decode()
    assert reverse("app-connectors", args=[ws, app]) in page
    assert reverse("connectors", args=[ws]) in page


def test_app_page_shows_status_and_needs_reconnect(client, personas, connector):
    conn = make_connection(personas.app)
    Connection.objects.filter(pk=conn.pk).update(status="needs_reconnect",
                                                 last_error="invalid_grant")
    make_connection(personas.app, kind="workspace", connector=connector)
    client.force_login(personas.owner)
    page = client.get(reverse("app-connectors", args=[personas.workspace.public_id,
                                                      personas.app.public_id]))
    html = page.content.decode()
    assert 'data-testid="needs-reconnect"' in html and "invalid_grant" in html
    assert "Needs reconnection" in html and connector.public_id in html
    assert "AT-plain" not in html and "RT-plain" not in html


def test_delete_warns_with_the_apps_using_it(client, personas, connector):
    make_connection(personas.app, kind="workspace", connector=connector)
    client.force_login(personas.admin)
    html = client.get(reverse("connector-detail", args=[personas.workspace.public_id,
                                                        connector.public_id])).content.decode()
    assert 'data-testid="delete-warning"' in html and personas.app.name in html
    assert "CANARY-secret-0001" not in html


def test_workspace_page_counts_app_user_connections(client, personas, connector):
    for n in range(3):
        make_connection(personas.app, kind="app_user", connector=connector,
                        app_user=personas.app.app_users.create(external_id=f"u{n}"))
    client.force_login(personas.member)
    html = client.get(reverse("connectors", args=[personas.workspace.public_id])).content
    assert b"<td>3</td>" in html


def test_revoke_app_user_connections_from_the_connector_page(client, personas, connector):
    for n in range(2):
        make_connection(personas.app, kind="app_user", connector=connector,
                        app_user=personas.app.app_users.create(external_id=f"u{n}"))
    client.force_login(personas.admin)
    resp = client.post(reverse("connector-detail", args=[personas.workspace.public_id,
                                                         connector.public_id]),
                       {"action": "revoke-app-users", "app_id": personas.app.public_id},
                       follow=True)
    assert b"Revoked 2" in resp.content
    assert not Connection.objects.filter(kind="app_user").exists()


def test_pages_have_query_ceilings(client, personas, connector, django_assert_max_num_queries):
    for n in range(5):
        make_connection(personas.app, kind="app_user", connector=connector,
                        app_user=personas.app.app_users.create(external_id=f"u{n}"))
    client.force_login(personas.owner)
    ws, app = personas.workspace.public_id, personas.app.public_id
    for url in (reverse("connectors", args=[ws]), reverse("app-connectors", args=[ws, app]),
                reverse("connector-detail", args=[ws, connector.public_id])):
        with django_assert_max_num_queries(15):
            assert client.get(url).status_code == 200


def test_admin_api_connectors(api, personas, connector):
    ws = personas.workspace.public_id
    admin, member = api(personas.admin), api(personas.member)
    listed = member.get(f"/api/v1/workspaces/{ws}/connectors/")
    assert listed.status_code == 200 and listed.json()[0]["has_client_secret"] is True
    assert "CANARY-secret-0001" not in listed.content.decode()
    assert member.post(f"/api/v1/workspaces/{ws}/connectors/", {}).status_code == 403
    assert api(personas.outsider).get(f"/api/v1/workspaces/{ws}/connectors/").status_code == 404
    assert api(None).get(f"/api/v1/workspaces/{ws}/connectors/").status_code in (401, 403)
    made = admin.post(f"/api/v1/workspaces/{ws}/connectors/", {
        "name": "Snow", "client_id": "x", "client_secret": "CANARY-secret-0002",
        "authorize_url": "https://s.example.com/a", "token_url": "https://s.example.com/t"},
        format="json")
    assert made.status_code == 201 and "client_secret" not in made.json()
    cid = made.json()["id"]
    assert admin.post(f"/api/v1/workspaces/{ws}/connectors/", {
        "name": "Bad", "client_id": "x", "authorize_url": "http://127.0.0.1/a",
        "token_url": "http://127.0.0.1/t"}, format="json").status_code == 400
    patched = admin.patch(f"/api/v1/workspaces/{ws}/connectors/{cid}/", {"scopes": "a  b"},
                          format="json")
    assert patched.json()["scopes"] == "a b"
    assert member.post(f"/api/v1/workspaces/{ws}/connectors/{cid}/rotate-secret/",
                       {"client_secret": "n"}).status_code == 403
    assert admin.post(f"/api/v1/workspaces/{ws}/connectors/{cid}/rotate-secret/",
                      {"client_secret": "n"}).status_code == 204
    assert WorkspaceConnector.objects.get(public_id=cid).client_secret.reveal() == "n"
    assert admin.delete(f"/api/v1/workspaces/{ws}/connectors/{cid}/").status_code == 204


def test_admin_api_connections_never_show_tokens(api, personas):
    make_connection(personas.app)
    url = (f"/api/v1/workspaces/{personas.workspace.public_id}/apps/{personas.app.public_id}"
           "/connections/")
    resp = api(personas.member).get(url)
    assert resp.status_code == 200 and resp.json()[0]["integration_type"] == "github"
    assert "AT-plain" not in resp.content.decode() and "RT-plain" not in resp.content.decode()
    assert api(personas.outsider).get(url).status_code == 404
