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


def _edit(connector, **changes):  # type: ignore[no-untyped-def]
    data = {"action": "update", "name": connector.name, "provider_type": "",
            "authorize_url": connector.authorize_url, "token_url": connector.token_url,
            "revocation_url": connector.revocation_url, "client_id": connector.client_id,
            "scopes": connector.scopes, "pkce": "on", "token_auth": connector.token_auth}
    data.update(changes)
    return data


def test_admin_edits_a_connector_on_its_page(client, personas, connector):
    client.force_login(personas.admin)
    url = reverse("connector-detail", args=[personas.workspace.public_id, connector.public_id])
    resp = client.post(url, _edit(connector, name="Renamed", scopes="read   write"), follow=True)
    assert b"Connector saved." in resp.content
    connector.refresh_from_db()
    assert (connector.name, connector.scopes) == ("Renamed", "read write")
    assert connector.client_secret.reveal() == "CANARY-secret-0001"  # editing keeps the secret
    assert "CANARY-secret-0001" not in resp.content.decode()


def test_a_refused_edit_keeps_what_was_typed(client, personas, connector):
    services.create_connector(personas.workspace, actor=personas.admin, name="Taken",
                              client_id="c", authorize_url="https://t.example.com/a",
                              token_url="https://t.example.com/t", client_secret="")
    client.force_login(personas.admin)
    url = reverse("connector-detail", args=[personas.workspace.public_id, connector.public_id])
    bad_url = client.post(url, _edit(connector, token_url="http://169.254.169.254/t",
                                     scopes="typed-scope-1"))
    assert bad_url.status_code == 200
    html = bad_url.content.decode()
    assert "Token url:" in html and 'value="typed-scope-1"' in html
    assert 'value="http://169.254.169.254/t"' in html
    duplicate = client.post(url, _edit(connector, name="Taken", client_id="typed-client-2"))
    html = duplicate.content.decode()
    assert "already exists" in html and 'value="typed-client-2"' in html
    connector.refresh_from_db()
    assert (connector.name, connector.token_url, connector.client_id) == (
        "Own", "https://auth.example.com/t", "cid")


def test_a_refused_registration_keeps_what_was_typed(client, personas):
    client.force_login(personas.admin)
    resp = client.post(reverse("connectors", args=[personas.workspace.public_id]), {
        "name": "Typed name", "provider_type": "", "authorize_url": "https://a.example.com/a",
        "token_url": "http://10.1.2.3/token", "revocation_url": "", "client_id": "typed-id",
        "client_secret": "CANARY-typed-secret-9", "scopes": "s1 s2", "token_auth": "post"})
    assert resp.status_code == 200
    html = resp.content.decode()
    assert 'value="Typed name"' in html and 'value="typed-id"' in html
    assert 'value="s1 s2"' in html and "Token url:" in html
    assert "CANARY-typed-secret-9" not in html  # a secret is never written into a page
    assert not WorkspaceConnector.objects.filter(name="Typed name").exists()


def test_connector_notices_tag_for_other_pages(personas, connector):
    from django.template import Context, Template

    tpl = Template("{% load connectors_tags %}{% connector_notices app %}")
    app = personas.app
    healthy = make_connection(app)
    assert tpl.render(Context({"app": app})).strip() == ""
    Connection.objects.filter(pk=healthy.pk).update(status="needs_reconnect",
                                                    last_error="invalid_grant")
    user_conn = make_connection(app, kind="app_user", connector=connector,
                                app_user=app.app_users.create(external_id="u1"))
    Connection.objects.filter(pk=user_conn.pk).update(status="needs_reconnect")
    html = tpl.render(Context({"app": app}))
    assert 'data-testid="connector-notices"' in html
    assert "The github connection of this app stopped working (invalid_grant)" in html
    assert "connector:" not in html  # an app user's own connection is theirs to reconnect
    assert reverse("app-connectors", args=[personas.workspace.public_id, app.public_id]) in html
    assert "AT-plain" not in html
    assert tpl.render(Context({"app": personas.outsider_app})).strip() == ""


def test_revoking_app_users_needs_an_app_of_this_workspace(client, personas, connector):
    """The connector page's form always names an app: an unknown, blank or foreign app id must
    never fall back to revoking the app-user connections of every app."""
    make_connection(personas.app, kind="app_user", connector=connector,
                    app_user=personas.app.app_users.create(external_id="u0"))
    client.force_login(personas.admin)
    url = reverse("connector-detail", args=[personas.workspace.public_id, connector.public_id])
    for app_id in ("", "no-such-app", personas.outsider_app.public_id):
        resp = client.post(url, {"action": "revoke-app-users", "app_id": app_id}, follow=True)
        assert resp.status_code == 200 and b"That app no longer exists." in resp.content
    assert Connection.objects.filter(kind="app_user").count() == 1


def test_app_page_revoke_for_an_unknown_connector_says_so(client, personas, connector):
    make_connection(personas.app, kind="app_user", connector=connector,
                    app_user=personas.app.app_users.create(external_id="u0"))
    client.force_login(personas.owner)
    url = reverse("app-connectors", args=[personas.workspace.public_id, personas.app.public_id])
    resp = client.post(url, {"action": "revoke-app-users", "connector_id": "nope"}, follow=True)
    assert b"Unknown connector." in resp.content
    assert Connection.objects.filter(kind="app_user").count() == 1


def test_a_refused_platform_connect_keeps_what_was_typed(client, personas, settings):
    settings.CONNECTOR_CLIENTS = {"zendesk": {"client_id": "zd", "client_secret": "zds"}}
    client.force_login(personas.owner)
    url = reverse("app-connectors", args=[personas.workspace.public_id, personas.app.public_id])
    resp = client.post(url, {"action": "connect", "integration_type": "zendesk",
                             "zendesk-subdomain": "acme_typo"})
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "Check the connection settings: subdomain" in html
    assert 'value="acme_typo"' in html


def test_a_concurrent_registration_of_the_same_name_is_refused_cleanly(personas, connector,
                                                                       monkeypatch):
    """The name check and the insert race: the unique constraint has the last word, and the
    loser gets the same "already exists" refusal, not a server error."""
    from django.db.models.query import QuerySet

    monkeypatch.setattr(QuerySet, "exists", lambda self: False)  # the other one just won
    with pytest.raises(services.ConnectorError) as exc:
        services.create_connector(personas.workspace, actor=personas.admin, name="Own",
                                  client_id="c2", client_secret="",
                                  authorize_url="https://a.example.com/a",
                                  token_url="https://a.example.com/t")
    assert exc.value.code == "duplicate" and "already exists" in exc.value.message
    assert WorkspaceConnector.objects.filter(name="Own").count() == 1


def test_connector_usage_per_app(personas, connector):
    make_connection(personas.app, kind="workspace", connector=connector)
    for n in range(2):
        make_connection(personas.app, kind="app_user", connector=connector,
                        app_user=personas.app.app_users.create(external_id=f"u{n}"))
    assert services.connector_usage(connector) == [
        {"app_id": personas.app.public_id, "name": personas.app.name, "shared": 1,
         "app_users": 2}]


def test_a_provider_with_per_account_urls_needs_the_connectors_own_urls(client, personas):
    """Zendesk's URLs hold {subdomain}: a connector of that type without its own URLs could
    never connect, so registering one says so instead of failing later at consent."""
    with pytest.raises(services.ConnectorError, match="authorize and token URLs"):
        services.create_connector(personas.workspace, actor=personas.admin, name="ZD",
                                  client_id="c", client_secret="", provider_type="zendesk")
    made = services.create_connector(
        personas.workspace, actor=personas.admin, name="ZD", client_id="c", client_secret="",
        provider_type="zendesk", authorize_url="https://acme.zendesk.com/oauth/authorizations/new",
        token_url="https://acme.zendesk.com/oauth/tokens")
    assert made.provider_type == "zendesk"
    client.force_login(personas.admin)
    resp = client.post(reverse("connectors", args=[personas.workspace.public_id]), {
        "name": "ZD2", "provider_type": "zendesk", "authorize_url": "", "token_url": "",
        "revocation_url": "", "client_id": "typed-zd", "scopes": "", "token_auth": "post"})
    assert resp.status_code == 200 and "depend on the account" in resp.content.decode()
    assert 'value="typed-zd"' in resp.content.decode()


def test_admin_changelists_have_query_ceilings(client, personas, connector,
                                               django_assert_max_num_queries):
    from django.contrib.auth import get_user_model

    for n in range(6):
        app_user = personas.app.app_users.create(external_id=f"u{n}")
        conn = make_connection(personas.app, kind="app_user", connector=connector,
                               app_user=app_user)
        services.record_handoff(conn, caller_kind="service_on_behalf_of")
        services.create_connector(personas.workspace, actor=personas.admin, name=f"C{n}",
                                  client_id="c", client_secret="",
                                  authorize_url="https://a.example.com/a",
                                  token_url="https://a.example.com/t")
    root = get_user_model().objects.create_superuser(email="root@example.com",
                                                     password="x-Long-pass-123")
    client.force_login(root)
    for model in ("connection", "tokenhandoff", "workspaceconnector"):
        with django_assert_max_num_queries(12):
            resp = client.get(reverse(f"admin:connectors_{model}_changelist"))
        assert resp.status_code == 200


def test_a_concurrent_rename_to_a_taken_name_is_refused_cleanly(personas, connector,
                                                                monkeypatch):
    from django.db.models.query import QuerySet

    services.create_connector(personas.workspace, actor=personas.admin, name="Taken",
                              client_id="c", client_secret="",
                              authorize_url="https://t.example.com/a",
                              token_url="https://t.example.com/t")
    monkeypatch.setattr(QuerySet, "exists", lambda self: False)  # the other one just won
    with pytest.raises(services.ConnectorError) as exc:
        services.update_connector(connector, actor=personas.admin, name="Taken",
                                  scopes="typed")
    assert exc.value.code == "duplicate"
    assert (connector.name, connector.scopes) == ("Own", "")  # not left with refused values
    connector.refresh_from_db()
    assert connector.name == "Own"
