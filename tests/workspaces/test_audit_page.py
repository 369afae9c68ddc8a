"""The audit trail as people read it: the page, the CSV export and the admin API (admins and
owners only), their filters and links, the query ceiling, and retention."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from secrets_vault import services as vault
from tests.conftest import ROLES, expect_for_role, login_as, persona_user
from tests.secrets_vault.conftest import new_canary
from workspaces import audit, services
from workspaces.models import AuditEntry

pytestmark = pytest.mark.django_db


def urls(personas):  # type: ignore[no-untyped-def]
    ws = personas.workspace.public_id
    return {"page": f"/w/{ws}/audit/", "csv": f"/w/{ws}/audit.csv",
            "api": f"/api/v1/workspaces/{ws}/audit/"}


def _csv(response) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.mark.parametrize("role", ROLES)
def test_page_and_csv_are_for_admins_and_owners(client, personas, role):
    login_as(client, personas, role)
    for kind in ("page", "csv"):
        response = client.get(urls(personas)[kind])
        expect_for_role(response, role, "admin")


@pytest.mark.parametrize("role", ROLES)
def test_api_is_for_admins_and_owners(api, personas, role):
    response = api(persona_user(personas, role)).get(urls(personas)["api"])
    expect_for_role(response, role, "admin", anonymous=401)
    if response.status_code == 200:
        assert {"next", "previous", "results"} <= set(response.json())


def test_a_revoked_token_is_refused(personas):
    from rest_framework.test import APIClient

    token, raw = services.create_personal_token(actor=personas.owner, name="old")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert client.get(urls(personas)["api"]).status_code == 200
    services.revoke_personal_token(token, actor=personas.owner)
    response = client.get(urls(personas)["api"])
    assert response.status_code == 401 and response.json()["code"] == "authentication_failed"


def test_an_admin_of_another_workspace_sees_nothing_of_this_one(api, client, personas):
    services.update_app(personas.app, actor=personas.owner, name="Secret plans")
    client.force_login(personas.outsider)  # owner of Globex
    assert client.get(urls(personas)["page"]).status_code == 404
    own = client.get(f"/w/{personas.outsider_workspace.public_id}/audit/")
    assert own.status_code == 200 and "Secret plans" not in own.content.decode()
    response = api(personas.outsider).get(
        f"/api/v1/workspaces/{personas.outsider_workspace.public_id}/audit/")
    assert "Secret plans" not in response.content.decode()


def test_the_page_shows_who_changed_what_newest_first_with_links(client, personas):
    p = personas
    services.update_app(p.app, actor=p.admin, name="Shop")
    services.invite(p.workspace, actor=p.owner, email="new@example.com")
    gone = services.create_app(p.workspace, actor=p.owner, name="Short-lived")
    services.delete_app(gone, actor=p.owner)
    client.force_login(p.admin)
    html = client.get(urls(p)["page"]).content.decode()
    table = html[html.index('data-testid="audit-table"'):]
    assert table.index("app.delete") < table.index("member.invite") < table.index("app.update")
    assert "admin@example.com" in html and "Storefront → Shop" in html
    # a link to the app that still exists, none to the deleted one
    assert f'href="/w/{p.workspace.public_id}/apps/{p.app.public_id}/"' in html
    assert f"/apps/{gone.public_id}/" not in html
    # the sidebar links admins to it; members get no link
    assert 'data-testid="nav-audit"' in html
    client.force_login(p.member)
    assert 'data-testid="nav-audit"' not in client.get(
        f"/w/{p.workspace.public_id}/apps/").content.decode()


def test_filters_on_page_csv_and_api(client, api, personas):
    p = personas
    services.update_app(p.app, actor=p.admin, name="Shop")
    services.invite(p.workspace, actor=p.owner, email="new@example.com")
    old = audit.record(p.workspace, audit.SYSTEM, "app.update", p.app,
                       {"name": {"from": "x", "to": "y"}})
    AuditEntry.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    client.force_login(p.owner)
    by_admin = client.get(urls(p)["page"], {"actor": str(p.admin.pk)}).content.decode()
    assert "Storefront → Shop" in by_admin and "new@example.com" not in by_admin
    members = client.get(urls(p)["page"], {"action": "member."}).content.decode()
    assert "member.invite" in members and "Storefront → Shop" not in members
    since = (timezone.localdate() - timedelta(days=7)).isoformat()
    rows = _csv(client.get(urls(p)["csv"], {"target_type": "app", "action": "app.update",
                                             "since": since}))  # not the 40-day-old one
    assert [r["action"] for r in rows] == ["app.update"] and rows[0]["actor"].startswith("admin")
    assert rows[0]["actor_kind"] == "user"
    system = api(p.owner).get(urls(p)["api"], {"actor": "system"}).json()["results"]
    assert [e["id"] for e in system] == [old.pk]
    assert system[0]["actor"] == {"kind": "system", "label": "system", "user_id": None}
    assert system[0]["target"]["id"] == p.app.public_id
    # a bad filter: a clear message on the page, 400 on the API
    bad = client.get(urls(p)["page"], {"since": "2026-05-02", "until": "2026-05-01"})
    assert "The end date is before the start date." in bad.content.decode()
    response = api(p.owner).get(urls(p)["api"], {"since": "yesterday"})
    assert response.status_code == 400 and "since" in response.json()["errors"]


def test_api_cursor_pagination_walks_every_entry_once(api, personas):
    ws = personas.workspace
    AuditEntry.objects.bulk_create([
        AuditEntry(workspace=ws, actor_kind="system", actor_label="system",
                   action="test.bulk", target_type="app", target_name=f"n{i}")
        for i in range(120)])
    client = api(personas.owner)
    seen, url = [], urls(personas)["api"] + "?action=test.bulk"
    while url:
        body = client.get(url).json()
        seen += [e["target"]["name"] for e in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 120
    assert client.get(urls(personas)["api"], {"cursor": "bogus"}).status_code == 404


def test_csv_streams_and_defuses_formulas(client, personas):
    services.update_app(personas.app, actor=personas.owner, name="=HYPERLINK(\"x\")")
    client.force_login(personas.owner)
    response = client.get(urls(personas)["csv"])
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    row = next(r for r in _csv(response) if r["action"] == "app.update")
    assert row["target_name"].startswith("'=")


def test_no_secret_reaches_the_page_csv_or_api(client, api, personas):
    values = [new_canary() for _ in range(3)]
    vault.set_secret(personas.workspace, "STRIPE_KEY", values[0], actor=personas.owner)
    vault.set_secret(personas.workspace, "STRIPE_KEY", values[1], actor=personas.owner)
    vault.create_custom_api(personas.workspace, actor=personas.owner, name="Billing",
                            auth_type="bearer", credential=values[2])
    client.force_login(personas.owner)
    bodies = [client.get(urls(personas)["page"]).content.decode(),
              b"".join(client.get(urls(personas)["csv"]).streaming_content).decode(),
              api(personas.owner).get(urls(personas)["api"]).content.decode()]
    for body in bodies:
        assert "STRIPE_KEY" in body and "Billing" in body
        assert not [v for v in values if v in body]


def test_the_page_has_a_query_ceiling(client, personas, django_assert_max_num_queries):
    from connectors import services as connectors

    p = personas
    for i in range(30):  # many entries of many target types, all linkable
        services.update_app(p.app, actor=p.owner, name=f"Shop {i}")
        vault.set_secret(p.workspace, f"KEY_{i}", "v", actor=p.owner)
    connectors.create_connector(p.workspace, actor=p.admin, name="Own", client_id="cid",
                                client_secret="s",
                                authorize_url="https://auth.example.com/authorize",
                                token_url="https://auth.example.com/token")
    services.invite(p.workspace, actor=p.owner, email="new@example.com")
    client.force_login(p.owner)
    client.get(urls(p)["page"])  # warm the session
    with django_assert_max_num_queries(16):
        response = client.get(urls(p)["page"])
    assert response.status_code == 200
    assert response.content.decode().count('data-testid="audit-row"') == 50


def test_prune_deletes_old_entries_in_batches(personas, settings):
    ws = personas.workspace
    now = timezone.now()
    AuditEntry.objects.bulk_create([
        AuditEntry(workspace=ws, actor_kind="system", action="test.old", target_type="app",
                   target_name=str(i)) for i in range(25)])
    AuditEntry.objects.filter(action="test.old").update(created_at=now - timedelta(days=400))
    keep = audit.record(ws, audit.SYSTEM, "test.recent", personas.app)
    assert audit.prune(days=365, batch_size=10, max_batches=1) == 10
    assert audit.prune(days=365, batch_size=10) == 15
    assert not AuditEntry.objects.filter(action="test.old").exists()
    assert AuditEntry.objects.filter(pk=keep.pk).exists()
    settings.AUDIT_RETENTION_DAYS = 0  # keeps everything
    AuditEntry.objects.filter(pk=keep.pk).update(created_at=now - timedelta(days=4000))
    assert audit.prune() == 0


def test_retention_default_and_beat_schedule(settings):
    assert settings.AUDIT_RETENTION_DAYS == 365
    entry = settings.CELERY_BEAT_SCHEDULE["audit-retention"]
    assert entry["task"] == "workspaces.tasks.prune_audit_entries"


@pytest.mark.redis
@pytest.mark.postgres
def test_the_prune_task_runs_on_a_real_worker(celery_worker_real, settings):
    from tests.factories import UserFactory, shared_workspace
    from workspaces import tasks

    owner = UserFactory(email="prune-owner@example.com")
    ws = shared_workspace(owner, "Prune")
    old = audit.record(ws, audit.SYSTEM, "test.old", ws)
    AuditEntry.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=settings.AUDIT_RETENTION_DAYS + 1))
    result = tasks.prune_audit_entries.delay()
    assert result.get(timeout=30) >= 1
    assert not AuditEntry.objects.filter(pk=old.pk).exists()
    assert AuditEntry.objects.filter(workspace=ws, action="workspace.create").exists()
