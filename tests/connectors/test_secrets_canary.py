"""Refresh tokens, client secrets, PKCE verifiers and codes appear in no page, no response, no
log line and no database column in plain text; access tokens only in the SDK hand-offs."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from connectors.models import Connection, OAuthState
from tests import canary as walker
from workspaces import services as ws_services
from workspaces.models import User

from .conftest import CLIENT_SECRET, CLIENT_SECRET_2, local_path, query_of
from .support import connect_platform, expire, open_link, register_connector

pytestmark = pytest.mark.django_db

MINE = ("connectors", "external-auth", "app-user-auth")


def test_secrets_leak_nowhere(client, personas, sdk, api, connector_settings, oauth_provider,
                              caplog):
    caplog.set_level(logging.DEBUG)
    p = personas
    canaries: list[str] = [CLIENT_SECRET, CLIENT_SECRET_2]
    with CaptureQueriesContext(connection) as queries:
        client.force_login(p.owner)
        conn = connect_platform(client, oauth_provider, p.app)
        canaries.append(conn.refresh_token.reveal())
        expire(conn)
        assert sdk(p.app).get(f"/api/apps/{p.app.public_id}/external-auth/tokens/github"
                              ).status_code == 200  # refresh + rotation
        conn.refresh_from_db()
        canaries.append(conn.refresh_token.reveal())

        connector = register_connector(p.workspace, p.admin, oauth_provider)
        url = sdk(p.app, "user-1").post(
            f"/api/apps/{p.app.public_id}/app-user-auth/connectors/{connector.public_id}/initiate"
        ).json()["redirect_url"]
        canaries.append(OAuthState.objects.get(app_user__isnull=False).code_verifier.reveal())
        browser = Client()
        callback = oauth_provider.authorize(open_link(browser, url), "bob")
        canaries.append(query_of(callback)["code"])
        assert browser.get(local_path(callback)).status_code == 200
        user_conn = Connection.objects.get(kind="app_user")
        canaries.append(user_conn.refresh_token.reveal())

        owner_jwt = ws_services.mint_app_user_token(p.app, "user-1").token
        obo = sdk(p.app)
        obo.credentials(HTTP_AUTHORIZATION=obo._credentials["HTTP_AUTHORIZATION"],
                        HTTP_ON_BEHALF_OF=f"Bearer {owner_jwt}")
        routes = [r for r in walker.iter_routes() if any(m in r.template for m in MINE)]
        page_clients = {"anonymous": Client()}
        for role in ("outsider", "member", "admin", "owner"):
            page_clients[role] = Client()
            page_clients[role].force_login(getattr(p, role))
        api_clients = {"anonymous": sdk(None), "service": sdk(p.app), "on-behalf-of": obo,
                       "app-user": sdk(p.app, "user-1"), "other-app": sdk(p.outsider_app),
                       "pat-owner": api(p.owner)}
        values = {"workspace_id": p.workspace.public_id, "app_id": p.app.public_id,
                  "connector_id": connector.public_id, "integration_type": "github"}
        report = walker.walk(values, page_clients=page_clients, api_clients=api_clients,
                             routes=routes)
        admin = Client()
        admin.force_login(User.objects.create_superuser("root@example.com", "pw"))
        admin_report = walker.walk_admin(admin)

    assert all(len(c) >= 20 for c in canaries)
    report.assert_clean(canaries)
    admin_report.assert_clean(canaries)
    statuses = {(v.url, v.caller): v.status for v in report.visits}
    ws, app = p.workspace.public_id, p.app.public_id
    assert statuses[(reverse("app-connectors", args=[ws, app]), "owner")] == 200
    assert statuses[(reverse("connector-detail", args=[ws, connector.public_id]), "admin")] == 200
    assert statuses[(f"/api/apps/{app}/external-auth/tokens/github", "service")] == 200
    assert statuses[(f"/api/apps/{app}/app-user-auth/connectors/{connector.public_id}/token",
                     "on-behalf-of")] == 200

    # access tokens: only in the service-token hand-offs
    access = [conn.access_token.reveal(), user_conn.access_token.reveal()]
    handoffs = {f"/api/apps/{app}/external-auth/tokens/github",
                f"/api/apps/{app}/app-user-auth/connectors/{connector.public_id}/token"}
    report.assert_clean(access, allowed=lambda v: v.url in handoffs
                        and v.caller in ("service", "on-behalf-of"))

    logged = caplog.text + "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}"
                                     for r in caplog.records)
    sql = "\n".join(q["sql"] for q in queries.captured_queries)
    for c in canaries + access:
        assert c not in logged
        assert c not in sql
    assert walker.scan_database(canaries + access) == []


@pytest.mark.parametrize("view_name", ["connectors", "connector-detail"])
def test_client_secret_is_masked_in_error_reports(rf, personas, monkeypatch, view_name):
    """If a connector page crashes, Django's error report (mail to ADMINS, logs) must not carry
    the client secret that was posted."""
    from django.views.debug import SafeExceptionReporterFilter

    from connectors import services, views
    from connectors.models import WorkspaceConnector

    connector = WorkspaceConnector.objects.create(
        workspace=personas.workspace, name="Own", client_id="c",
        authorize_url="https://a.example.com/a", token_url="https://a.example.com/t")

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("crash")

    monkeypatch.setattr(services, "create_connector", boom)
    monkeypatch.setattr(services, "rotate_client_secret", boom)
    canary = "client-secret-CANARY-error-report-77"
    if view_name == "connectors":
        request = rf.post("/", {"name": "N", "client_id": "c", "client_secret": canary,
                                "authorize_url": "https://a.example.com/a",
                                "token_url": "https://a.example.com/t", "token_auth": "post"})
        call = lambda: views.workspace_connectors(request, personas.workspace.public_id)  # noqa: E731
    else:
        request = rf.post("/", {"action": "rotate", "client_secret": canary})
        call = lambda: views.connector_detail(request, personas.workspace.public_id,  # noqa: E731
                                              connector.public_id)
    request.user = personas.admin
    with pytest.raises(RuntimeError):
        call()
    shown = SafeExceptionReporterFilter().get_post_parameters(request)
    assert shown["client_secret"] != canary and canary not in str(dict(shown))
