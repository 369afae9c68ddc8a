"""A plan upgrade in mid-month grants the difference to the new plan's monthly credits at once
(one idempotent ledger entry per workspace, month and plan); a downgrade removes nothing; the
next month's grant is the new plan's, as before; only owners change the plan."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from tests.conftest import expect_for_role, login_as
from tests.factories import shared_workspace
from workspaces import credits, services
from workspaces.models import CreditEntry, Workspace
from workspaces.plans import PLANS

pytestmark = pytest.mark.django_db


def _grants(ws: Workspace) -> list[tuple[str, int]]:
    return sorted((e.idempotency_key, e.amount)
                  for e in CreditEntry.objects.filter(workspace=ws, kind="grant"))


def _settings_url(ws: Workspace) -> str:
    return reverse("workspace-settings", args=[ws.public_id])


def _month() -> str:
    return timezone.now().strftime("%Y-%m")


def test_upgrade_on_the_settings_page_grants_the_difference_once(client, personas):
    ws = shared_workspace(personas.owner, "Tiny", plan="free")
    credits.charge(ws, 30, reason="calls", idempotency_key="spent-30")
    assert credits.balance(ws) == 70
    client.force_login(personas.owner)
    page = client.get(_settings_url(ws)).content.decode()
    assert "difference" in page and "granted at once" in page  # says what an upgrade does
    assert "no credits are removed" in page  # and what a downgrade does

    resp = client.post(_settings_url(ws), {"action": "plan", "plan": "builder"}, follow=True)
    assert b"Plan changed to Builder" in resp.content
    assert b"1900 credits" in resp.content  # the message says what was granted
    assert credits.balance(ws) == 70 + 1900
    month = _month()
    assert _grants(ws) == [(f"grant:{ws.public_id}:{month}", 100),
                           (f"plan-upgrade:{ws.public_id}:{month}:builder", 1900)]
    # the same change again (a double-click, a retry) grants nothing more
    client.post(_settings_url(ws), {"action": "plan", "plan": "builder"})
    assert credits.balance(ws) == 1970
    assert len(_grants(ws)) == 2


def test_free_to_builder_to_pro_grants_exactly_up_to_pro(personas, api):
    ws = shared_workspace(personas.owner, "Tiny", plan="free")
    owner = api(personas.owner)
    url = f"/api/v1/workspaces/{ws.public_id}/"
    for plan in ("builder", "pro", "free", "builder", "pro", "pro"):
        resp = owner.patch(url, {"plan": plan}, format="json")
        assert resp.status_code == 200, resp.content
        assert resp.json()["plan"] == plan
    assert sum(amount for _, amount in _grants(ws)) == PLANS["pro"].monthly_credits
    assert credits.balance(ws) == 10_000
    month = _month()
    assert _grants(ws) == [(f"grant:{ws.public_id}:{month}", 100),
                           (f"plan-upgrade:{ws.public_id}:{month}:builder", 1900),
                           (f"plan-upgrade:{ws.public_id}:{month}:pro", 8000)]


def test_the_next_months_grant_is_unaffected(personas):
    ws = shared_workspace(personas.owner, "Tiny", plan="free")
    services.change_plan(ws, actor=personas.owner, plan="pro")
    assert credits.balance(ws) == 10_000
    next_month = timezone.now().replace(day=1) + timedelta(days=32)
    services.grant_monthly_credits(ws, now=next_month)
    services.grant_monthly_credits(ws, now=next_month)  # the beat retried
    key = f"grant:{ws.public_id}:{next_month.strftime('%Y-%m')}"
    assert CreditEntry.objects.get(idempotency_key=key).amount == 10_000
    assert credits.balance(ws) == 20_000


def test_downgrade_removes_nothing_and_the_page_says_what_stops(client, personas):
    ws = shared_workspace(personas.owner, "Big", plan="pro")
    credits.charge(ws, 500, reason="calls", idempotency_key="spent-500")
    before = list(CreditEntry.objects.filter(workspace=ws).values_list("pk", flat=True))
    client.force_login(personas.owner)
    asked = client.post(_settings_url(ws), {"action": "plan", "plan": "free"})
    assert b"Downgrade to Free?" in asked.content  # first it says what stops (issue 14)
    resp = client.post(_settings_url(ws), {"action": "plan", "plan": "free", "confirm": "yes"},
                       follow=True)
    assert b"Plan changed to Free" in resp.content
    ws.refresh_from_db()
    assert ws.plan == "free"
    assert credits.balance(ws) == 9_500  # nothing removed
    assert list(CreditEntry.objects.filter(workspace=ws).values_list("pk", flat=True)) == before
    page = resp.content.decode()
    assert "Workspace integrations" in page and "takes effect at once" in page
    # upgrading back in the same month grants nothing: pro's amount was granted already
    services.change_plan(ws, actor=personas.owner, plan="pro")
    assert credits.balance(ws) == 9_500


@pytest.mark.parametrize("role", ["anonymous", "outsider", "member", "admin"])
def test_only_the_owner_changes_the_plan(client, api, personas, role):
    ws = personas.workspace  # builder
    before = credits.balance(ws)
    login_as(client, personas, role)
    resp = client.post(_settings_url(ws), {"action": "plan", "plan": "pro"})
    expect_for_role(resp, role, "owner", allowed=(302,))
    user = None if role == "anonymous" else getattr(personas, role)
    got = api(user).patch(f"/api/v1/workspaces/{ws.public_id}/", {"plan": "pro"}, format="json")
    assert got.status_code == {"anonymous": 401, "outsider": 404}.get(role, 403), got.content
    ws.refresh_from_db()
    assert ws.plan == "builder"
    assert credits.balance(ws) == before
    assert not CreditEntry.objects.filter(idempotency_key__startswith="plan-upgrade:").exists()


def test_a_member_sees_no_plan_form(client, personas):
    client.force_login(personas.member)
    page = client.get(_settings_url(personas.workspace)).content.decode()
    assert "Only owners change the plan." in page and 'value="plan"' not in page


@pytest.mark.postgres
def test_concurrent_upgrades_grant_up_to_the_top_plan_only(transactional_db, personas,
                                                           monkeypatch):
    """Two owners' tabs: free->builder and free->pro at the same moment. Both have read what
    was granted before either writes, unless plan changes are serialised per workspace."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    ws = shared_workspace(personas.owner, "Tiny", plan="free")
    barrier = threading.Barrier(2, timeout=3)
    grant = credits.grant

    def grant_after_both_read(workspace, amount, **kwargs):  # type: ignore[no-untyped-def]
        if kwargs["idempotency_key"].startswith("plan-upgrade:"):
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
        return grant(workspace, amount, **kwargs)

    monkeypatch.setattr(credits, "grant", grant_after_both_read)
    errors: list[BaseException] = []

    def attempt(plan: str) -> None:
        try:
            services.change_plan(Workspace.objects.get(pk=ws.pk), actor=personas.owner,
                                 plan=plan)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(p,)) for p in ("builder", "pro")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ws.refresh_from_db()
    # whichever ran second, the month's grants add up to pro's amount, never 100+1900+9900
    granted = sum(amount for _, amount in _grants(ws))
    assert granted == PLANS["pro"].monthly_credits
    assert credits.balance(ws) == granted
