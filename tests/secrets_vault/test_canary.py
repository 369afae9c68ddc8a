"""Canary test: secret values and credentials appear nowhere but in functions/env for the
right app with a service token. Walks the whole URL conf (tests/canary.py), so pages and
endpoints added later are covered too."""

from __future__ import annotations

import logging

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from secrets_vault import services as vault
from tests import canary as walker
from tests.secrets_vault.conftest import new_canary
from workspaces import services
from workspaces.models import Membership, User

pytestmark = pytest.mark.django_db


def url_values(p, d) -> dict[str, str]:  # type: ignore[no-untyped-def]
    invitation = services.invite(p.workspace, actor=p.owner, email="invitee@example.com")
    token_row, _ = services.create_service_token(p.app, actor=p.owner, name="walk")
    return {
        "workspace_id": p.workspace.public_id,
        "app_id": p.app.public_id,
        "name": "SHARED_NAME",  # a secret in both the workspace and the app
        "custom_api_id": d.apis["bearer"].public_id,
        "membership_id": str(Membership.objects.get(workspace=p.workspace, user=p.member).pk),
        "invitation_id": str(invitation.pk),
        "user_id": str(p.member.pk),
        "token_id": str(token_row.pk),
        "token": "not-a-real-token",
        "uidb64": "MQ",
    }


def page_clients(p) -> dict[str, Client]:  # type: ignore[no-untyped-def]
    clients = {"anonymous": Client()}
    for role in ("outsider", "member", "admin", "owner"):
        clients[role] = Client()
        clients[role].force_login(getattr(p, role))
    return clients


def api_clients(p, api, sdk) -> dict[str, Client]:  # type: ignore[no-untyped-def]
    clients = {f"pat-{role}": api(getattr(p, role) if role != "anonymous" else None)
               for role in ("anonymous", "outsider", "member", "admin", "owner")}
    clients["sdk-service-app"] = sdk(p.app)
    clients["sdk-service-other-app"] = sdk(p.outsider_app)
    clients["sdk-app-user"] = sdk(p.app, "user-1")
    # a signed-in browser on the API: DRF's browsable HTML pages (session authentication)
    for role in ("member", "owner"):
        browser = Client(HTTP_ACCEPT="text/html")
        browser.force_login(getattr(p, role))
        clients[f"browser-{role}"] = browser
    return clients


def test_canaries_leak_nowhere(personas, api, sdk, vault_data, caplog):
    caplog.set_level(logging.DEBUG)
    p, d = personas, vault_data
    with CaptureQueriesContext(connection) as queries:
        # More canaries written while SQL is captured (and logged at DEBUG).
        d.canaries["captured_secret"] = new_canary()
        vault.set_secret(p.workspace, "CAPTURED", d.canaries["captured_secret"], actor=p.owner)
        d.canaries["captured_api"] = new_canary()
        vault.create_custom_api(p.workspace, actor=p.owner, name="Captured",
                                auth_type="bearer", credential=d.canaries["captured_api"])
        report = walker.walk(url_values(p, d), page_clients=page_clients(p),
                             api_clients=api_clients(p, api, sdk))

    env_url = f"/api/apps/{p.app.public_id}/functions/env"

    def is_env_for_the_right_app(visit: walker.Visit) -> bool:
        return visit.url == env_url and visit.caller == "sdk-service-app"

    report.assert_clean(d.all, allowed=is_env_for_the_right_app)

    # The one allowed place really does carry the app's values (and only those).
    env_visits = [v for v in report.visits if is_env_for_the_right_app(v)]
    assert len(env_visits) == 1 and env_visits[0].status == 200
    body = env_visits[0].body
    for label in ("ws", "app", "app_shared", "api_key", "bearer", "basic_user", "basic_pass",
                  "captured_secret", "captured_api"):
        assert d.canaries[label] in body, label
    for label in ("system", "outsider", "ws_shared"):
        assert d.canaries[label] not in body, label

    # Our own pages and endpoints were all visited with real ids, as every caller.
    urls = report.urls()
    ws, app, api_id = p.workspace.public_id, p.app.public_id, d.apis["bearer"].public_id
    for url in (f"/w/{ws}/secrets/", f"/w/{ws}/secrets/apps/{app}/",
                f"/w/{ws}/secrets/SHARED_NAME/", f"/w/{ws}/secrets/apps/{app}/SHARED_NAME/",
                f"/w/{ws}/secrets/SHARED_NAME/delete/", f"/w/{ws}/custom-apis/",
                f"/w/{ws}/custom-apis/{api_id}/", f"/w/{ws}/custom-apis/{api_id}/delete/",
                f"/api/v1/workspaces/{ws}/secrets/SHARED_NAME/",
                f"/api/v1/workspaces/{ws}/apps/{app}/secrets/SHARED_NAME/",
                f"/api/v1/workspaces/{ws}/custom-apis/{api_id}/", env_url):
        assert url in urls, url
    statuses = {(v.url, v.caller): v.status for v in report.visits}
    assert statuses[(f"/w/{ws}/secrets/SHARED_NAME/", "owner")] == 200
    assert statuses[(f"/api/v1/workspaces/{ws}/custom-apis/{api_id}/", "pat-member")] == 200
    browsable = [v for v in report.visits if v.caller == "browser-owner"
                 and v.url == f"/api/v1/workspaces/{ws}/secrets/SHARED_NAME/"]
    assert browsable[0].status == 200 and "text/html" in browsable[0].body
    assert not [g for g in report.guessed if "secrets" in g[0] or "custom-apis" in g[0]]
    assert len(report.visits) > 200

    # Logs (root logger at DEBUG, SQL included) and every SQL statement sent.
    logged = caplog.text + "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}"
                                     for r in caplog.records)
    sql = "\n".join(q["sql"] for q in queries.captured_queries)
    assert "functions/env" in sql or "SELECT" in sql
    for c in d.all:
        assert c not in logged
        assert c not in sql

    # At rest: no table holds a canary in plain text (encrypted columns included).
    assert walker.scan_database(d.all) == []


def test_admin_pages_show_no_values(personas, vault_data):
    superuser = User.objects.create_superuser("root@example.com", "pw-root-12345")
    client = Client()
    client.force_login(superuser)
    report = walker.walk_admin(client)
    visited = report.urls()
    assert "/admin/secrets_vault/secret/" in visited
    assert "/admin/secrets_vault/customapi/" in visited
    assert any(u.startswith("/admin/secrets_vault/secret/") and u.endswith("/change/")
               for u in visited)
    assert all(v.status == 200 for v in report.visits if "secrets_vault" in v.url)
    report.assert_clean(vault_data.all)
    for v in report.visits:
        assert "gAAAAA" not in v.body, v.url  # not even the ciphertext


def test_error_reports_hide_values_and_post_data(personas, rf, monkeypatch):
    """Django's error reports (mail_admins, DEBUG pages) list POST data and frame locals; the
    vault marks both sensitive, so a crash mid-save shows no value."""
    import sys

    from django.views.debug import ExceptionReporter

    from secrets_vault import views

    canary = new_canary()

    def explode(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("audit unavailable")

    monkeypatch.setattr("secrets_vault.services.audit.record", explode)
    request = rf.post(f"/w/{personas.workspace.public_id}/secrets/",
                      {"name": "CRASH", "value": canary})
    request.user = personas.owner
    try:
        views.secrets_page(request, workspace_id=personas.workspace.public_id)
    except RuntimeError:
        exc_type, exc, tb = sys.exc_info()
        report = ExceptionReporter(request, exc_type, exc, tb.tb_next)  # not this test's frame
        html, text = report.get_traceback_html(), report.get_traceback_text()
    else:  # pragma: no cover
        raise AssertionError("expected the save to fail")
    assert "secrets_vault/services.py" in text
    assert canary not in html and canary not in text
    try:
        vault.create_custom_api(personas.workspace, actor=personas.owner, name="Boom",
                                auth_type="bearer", credential=canary)
    except RuntimeError:
        exc_type, exc, tb = sys.exc_info()
        text = ExceptionReporter(None, exc_type, exc, tb.tb_next).get_traceback_text()
        assert "create_custom_api" in text and canary not in text
    else:  # pragma: no cover
        raise AssertionError("expected the save to fail")


def test_writes_echo_canaries_nowhere(personas, api, sdk, vault_data, caplog):
    """Every vault page and endpoint written to, as every caller, with canaries in the value,
    credential and username fields: valid saves, invalid names, bad domains, header-injection
    attempts, duplicates and forbidden credential changes. No answer (error, re-rendered form,
    success page, JSON) carries a canary; afterwards the whole URL conf is walked again and the
    only place the new values appear is functions/env for the right app."""
    caplog.set_level(logging.DEBUG)
    p, d = personas, vault_data
    routes = [r for r in walker.routes_of("secrets_vault") if "delete" not in r.template]
    names = {r.name for r in routes}
    assert {"secrets", "app-secrets", "secret-detail", "app-secret-detail", "custom-apis",
            "custom-api-edit", "api-secrets", "api-secret", "api-app-secrets", "api-app-secret",
            "api-custom-apis", "api-custom-api", "sdk-functions-env"} <= names

    fresh: list[str] = []

    def c() -> str:
        fresh.append(new_canary())
        return fresh[-1]

    bodies = [
        # invalid name: the form comes back with the error; nothing typed secret is echoed
        {"name": "bad name!", "value": c(), "credential": c(), "username": c(),
         "auth_type": "basic", "scope": "organization", "description": "typed"},
        # a bad domain and a credential that tries to inject a header
        {"name": "Walk Api", "value": c(), "credential": c() + "\r\nX-Evil: 1",
         "username": c(), "auth_type": "bearer", "domain": "https://bad.example/x",
         "scope": "organization"},
        # valid: created (or replaced) by whoever may; a duplicate for the next caller
        {"name": "WALK_NEW", "value": c(), "credential": c(), "username": "walker",
         "auth_type": "api_key", "scope": "organization", "description": "d"},
        # an edit that tries to change credentials
        {"name": "Bearer service", "credential": c(), "username": c(), "scope": "organization"},
    ]
    with CaptureQueriesContext(connection) as queries:
        writes = walker.write_walk(url_values(p, d), bodies, page_clients=page_clients(p),
                                   api_clients=api_clients(p, api, sdk), routes=routes)
        writes.assert_clean(fresh + d.all)
        assert not [g for g in writes.guessed]
        by = {(v.url, v.caller): v.status for v in writes.visits}
        ws = p.workspace.public_id
        # the writes really happened where allowed and were refused elsewhere
        assert by[(f"/api/v1/workspaces/{ws}/secrets/", "pat-admin POST")] in (201, 400)
        assert by[(f"/api/v1/workspaces/{ws}/secrets/", "pat-member POST")] == 403
        assert by[(f"/api/v1/workspaces/{ws}/secrets/", "sdk-service-app POST")] in (401, 403)
        assert by[(f"/api/apps/{p.app.public_id}/functions/env", "sdk-service-app POST")] == 405
        assert vault.resolve_value(p.workspace, "WALK_NEW") in fresh
        assert vault.resolve_value(p.workspace, "SHARED_NAME", p.app) in fresh  # replaced
        assert "CUSTOM_API_WALK_NEW" in vault.environment_names(p.app)

        after = walker.walk(url_values(p, d), page_clients=page_clients(p),
                            api_clients=api_clients(p, api, sdk))
    env_url = f"/api/apps/{p.app.public_id}/functions/env"
    after.assert_clean(fresh + d.all,
                       allowed=lambda v: v.url == env_url and v.caller == "sdk-service-app")
    env = next(v for v in after.visits if v.url == env_url and v.caller == "sdk-service-app")
    assert sum(x in env.body for x in fresh) >= 3  # WALK_NEW, CUSTOM_API_WALK_NEW, SHARED_NAME

    logged = caplog.text + "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}"
                                     for r in caplog.records)
    sql = "\n".join(q["sql"] for q in queries.captured_queries)
    for x in fresh:
        assert x not in logged and x not in sql
    assert walker.scan_database(fresh + d.all) == []


@pytest.mark.parametrize("method,path,body", [
    ("post", "secrets/", {"name": "CRASH", "value": "{c}"}),
    ("put", "secrets/CRASH/", {"value": "{c}"}),
    ("post", "custom-apis/", {"name": "Boom", "auth_type": "basic", "username": "{c}",
                              "credential": "{c}"}),
])
def test_api_error_reports_hide_values(personas, monkeypatch, method, path, body):
    """The admin API's write endpoints, crashing mid-save: Django's error report (frame locals
    of every view frame included) carries no value, username or credential."""
    from django.urls import resolve
    from rest_framework.test import APIRequestFactory, force_authenticate

    canary = new_canary()

    def explode(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("audit unavailable")

    monkeypatch.setattr("secrets_vault.services.audit.record", explode)
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/{path}"
    data = {k: v.replace("{c}", canary) for k, v in body.items()}
    request = getattr(APIRequestFactory(), method)(url, data, format="json")
    force_authenticate(request, user=personas.owner)
    match = resolve(url)
    report = walker.error_report(request, lambda: match.func(request, **match.kwargs))
    assert "secrets_vault/api/views.py" in report and "audit unavailable" in report
    assert canary not in report
