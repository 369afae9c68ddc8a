"""Per-app monthly credit caps: who sets them (admins and owners, dashboard and admin API, one
audit entry with before/after), what the ledger does with them (the charge and the month's
usage together or not at all, refunds give usage back), the 80 %/100 % notices once a month,
and what the app page shows to everyone."""

from __future__ import annotations

from datetime import date

import pytest
from django.core import mail

from tests.factories import make_app
from workspaces import app_caps, credits
from workspaces.credits import AppCreditCapReached, month_start
from workspaces.models import App, AppCreditUsage, AuditEntry, CreditEntry, EmailMessage

pytestmark = pytest.mark.django_db


def app_api(personas, app: App | None = None) -> str:  # type: ignore[no-untyped-def]
    app = app or personas.app
    return f"/api/v1/workspaces/{personas.workspace.public_id}/apps/{app.public_id}/"


def page(personas, app: App | None = None) -> str:  # type: ignore[no-untyped-def]
    app = app or personas.app
    return f"/w/{personas.workspace.public_id}/apps/{app.public_id}/"


def set_cap(app: App, cap: int | None) -> None:
    App.objects.filter(pk=app.pk).update(monthly_credit_cap=cap)
    app.refresh_from_db()


def spend(app: App, amount: int, key: str) -> CreditEntry:
    return credits.charge(app.workspace, amount, reason="test call", idempotency_key=key,
                          app=app)


def used(app: App) -> int:
    row = AppCreditUsage.objects.filter(app=app, month=month_start()).first()
    return row.used if row else 0


# --------------------------------------------------------------------------- the ledger


def test_usage_is_counted_without_a_cap_so_a_cap_set_mid_month_starts_from_the_truth(personas):
    app = personas.app
    spend(app, 3, "a")
    spend(app, 4, "b")
    assert used(app) == 7 and credits.balance(personas.workspace) == 1993
    set_cap(app, 10)
    spend(app, 3, "c")
    with pytest.raises(AppCreditCapReached):
        spend(app, 1, "d")
    assert used(app) == 10 and credits.balance(personas.workspace) == 1990


def test_over_the_cap_refuses_and_records_nothing(personas):
    app = personas.app
    set_cap(app, 5)
    spend(app, 4, "a")
    with pytest.raises(credits.InsufficientCredits) as refused:  # the proxy's catch-all
        spend(app, 2, "b")
    exc = refused.value
    assert isinstance(exc, AppCreditCapReached) and exc.reason == "app_credit_cap_reached"
    assert exc.message.startswith("This app has reached its monthly credit cap of 5 credits")
    assert used(app) == 4 and credits.balance(personas.workspace) == 1996
    assert not CreditEntry.objects.filter(idempotency_key="b").exists()
    spend(app, 1, "c")  # what still fits is allowed
    assert used(app) == 5


def test_a_repeated_key_is_the_first_charge_even_at_the_cap(personas):
    app = personas.app
    set_cap(app, 2)
    first = spend(app, 2, "same")
    assert spend(app, 2, "same").pk == first.pk
    assert used(app) == 2 and CreditEntry.objects.filter(kind="usage").count() == 1


def test_refunds_give_the_usage_back(personas):
    app = personas.app
    set_cap(app, 3)
    spend(app, 3, "a")
    credits.refund(personas.workspace, 3, reason="not sent", idempotency_key="a:refund", app=app)
    assert used(app) == 0 and credits.balance(personas.workspace) == 2000
    spend(app, 3, "b")  # the cap is free again
    assert used(app) == 3


def test_a_cap_counts_its_own_month_only(personas):
    app = personas.app
    AppCreditUsage.objects.create(app=app, month=date(2020, 1, 1), used=999)
    set_cap(app, 5)
    spend(app, 5, "a")
    assert used(app) == 5


def test_the_workspace_balance_still_applies_under_a_cap(personas):
    app = personas.app
    set_cap(app, 5000)
    with pytest.raises(credits.InsufficientCredits) as refused:
        spend(app, 2001, "big")
    assert not isinstance(refused.value, AppCreditCapReached)
    assert used(app) == 0


# --------------------------------------------------------------------------- notices


def test_80_and_100_percent_notices_go_once_to_admins_and_owners(personas,
                                                                 django_capture_on_commit_callbacks):
    app = personas.app
    set_cap(app, 10)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(7):
            spend(app, 1, f"k{n}")
    assert EmailMessage.objects.count() == 0 and len(mail.outbox) == 0
    with django_capture_on_commit_callbacks(execute=True):
        spend(app, 1, "k7")  # 8 of 10: 80 %
        spend(app, 1, "k8")
    assert sorted(m.to[0] for m in mail.outbox) == ["admin@example.com", "owner@example.com"]
    assert all("used 80% of its monthly credit cap" in m.subject for m in mail.outbox)
    assert "8 of its 10-credit monthly cap" in mail.outbox[0].body
    with django_capture_on_commit_callbacks(execute=True):
        spend(app, 1, "k9")  # 10 of 10
        for n in range(3):
            with pytest.raises(AppCreditCapReached):
                spend(app, 1, f"over{n}")
    reached = [m for m in mail.outbox if "reached its monthly credit cap" in m.subject]
    assert sorted(m.to[0] for m in reached) == ["admin@example.com", "owner@example.com"]
    assert "app_credit_cap_reached" in reached[0].body
    assert len(mail.outbox) == 4  # nobody else (the member), nothing twice
    row = AppCreditUsage.objects.get(app=app, month=month_start())
    assert row.notified_80_at and row.notified_100_at


def test_a_refused_charge_short_of_the_cap_sends_the_100_notice(personas):
    app = personas.app
    set_cap(app, 10)
    spend(app, 7, "a")  # 70 %: no notice
    assert EmailMessage.objects.count() == 0
    with pytest.raises(AppCreditCapReached):
        spend(app, 5, "b")  # would be 12: refused, the cap is what stops the app now
    subjects = set(EmailMessage.objects.values_list("subject", flat=True))
    assert subjects == {"Storefront reached its monthly credit cap"}
    assert EmailMessage.objects.count() == 2


def test_jumping_past_both_lines_sends_only_the_100_notice(personas):
    app = personas.app
    set_cap(app, 10)
    spend(app, 10, "all")
    assert set(EmailMessage.objects.values_list("subject", flat=True)) == {
        "Storefront reached its monthly credit cap"}
    spend_refused = pytest.raises(AppCreditCapReached)
    with spend_refused:
        spend(app, 1, "more")
    assert EmailMessage.objects.count() == 2


def test_last_months_notice_does_not_silence_this_month(personas):
    app = personas.app
    AppCreditUsage.objects.create(app=app, month=date(2020, 1, 1), used=10,
                                  notified_80_at="2020-01-20T00:00Z",
                                  notified_100_at="2020-01-25T00:00Z")
    set_cap(app, 10)
    spend(app, 8, "a")
    assert EmailMessage.objects.filter(subject__contains="80%").count() == 2


def test_no_cap_no_notice(personas):
    spend(personas.app, 1500, "a")
    assert EmailMessage.objects.count() == 0


def test_the_hook_for_higher_floors_is_sent_on_commit(personas,
                                                      django_capture_on_commit_callbacks):
    seen = []

    def listener(sender, **kw):  # type: ignore[no-untyped-def]
        seen.append((kw["app"].pk, kw["level"], kw["used"], kw["cap"]))

    app_caps.cap_notice.connect(listener)
    try:
        set_cap(personas.app, 4)
        with django_capture_on_commit_callbacks(execute=True):
            spend(personas.app, 4, "a")
    finally:
        app_caps.cap_notice.disconnect(listener)
    assert seen == [(personas.app.pk, 100, 4, 4)]


# --------------------------------------------------------------------------- who sets it


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_admins_and_owners_set_cap_and_sandbox_through_the_api_audited(api, personas, role):
    user = getattr(personas, role)
    last = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()
    response = api(user).patch(app_api(personas), {"monthly_credit_cap": 1000,
                                                   "sandbox_mode": True}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["monthly_credit_cap"], body["sandbox_mode"],
            body["credits_used_this_month"]) == (1000, True, 0)
    personas.app.refresh_from_db()
    assert personas.app.monthly_credit_cap == 1000 and personas.app.sandbox_mode is True
    entry = AuditEntry.objects.get(action="app.sandbox_mode")  # one entry for the save
    assert AuditEntry.objects.filter(id__gt=last).exclude(
        action="personal_token.create").count() == 1
    assert entry.actor == user and entry.scope == f"app:{personas.app.public_id}"
    assert entry.changes == {"monthly_credit_cap": {"from": None, "to": 1000},
                             "sandbox_mode": {"from": False, "to": True}}
    response = api(user).patch(app_api(personas), {"monthly_credit_cap": None}, format="json")
    assert response.status_code == 200 and response.json()["monthly_credit_cap"] is None
    entry = AuditEntry.objects.get(action="app.credit_cap")
    assert entry.changes == {"monthly_credit_cap": {"from": 1000, "to": None}}


@pytest.mark.parametrize("field,value", [("monthly_credit_cap", 50), ("sandbox_mode", True)])
def test_a_member_who_made_the_app_cannot_set_admin_settings_through_the_api(api, personas,
                                                                             field, value):
    mine = make_app(personas.workspace, personas.member, "Mine")
    client = api(personas.member)
    last = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()
    response = client.patch(app_api(personas, mine), {field: value, "name": "Renamed"},
                            format="json")
    assert response.status_code == 403, response.content
    assert response.json()["errors"][field] == [response.json()["detail"]]
    mine.refresh_from_db()
    assert (mine.monthly_credit_cap, mine.sandbox_mode, mine.name) == (None, False, "Mine")
    assert not AuditEntry.objects.filter(id__gt=last).exists()
    # nor create an app with them
    response = client.post(
        f"/api/v1/workspaces/{personas.workspace.public_id}/apps/",
        {"name": "Capped", field: value}, format="json")
    assert response.status_code == 403 and not App.objects.filter(name="Capped").exists()
    # renaming alone, the admin settings sent unchanged, is fine
    response = client.patch(app_api(personas, mine), {
        "name": "Renamed", "monthly_credit_cap": None, "sandbox_mode": False}, format="json")
    assert response.status_code == 200


def test_plain_member_and_outsider_from_the_wrong_side_of_the_api(api, personas):
    response = api(personas.member).patch(app_api(personas), {"monthly_credit_cap": 5},
                                          format="json")
    assert response.status_code == 403
    response = api(personas.outsider).patch(app_api(personas), {"monthly_credit_cap": 5},
                                            format="json")
    assert response.status_code == 404
    assert api(personas.outsider).get(app_api(personas)).status_code == 404
    personas.app.refresh_from_db()
    assert personas.app.monthly_credit_cap is None


def test_the_api_refuses_a_cap_below_one_or_of_the_wrong_type(api, personas):
    client = api(personas.owner)
    for bad in (0, -5, "100", 1.5, True):
        response = client.patch(app_api(personas), {"monthly_credit_cap": bad}, format="json")
        assert response.status_code == 400, (bad, response.content)
        assert "monthly_credit_cap" in response.json()["errors"]
    personas.app.refresh_from_db()
    assert personas.app.monthly_credit_cap is None


def test_the_app_list_shows_each_apps_use(api, personas):
    other = make_app(personas.workspace, personas.owner, "Other")
    spend(personas.app, 3, "a")
    spend(other, 2, "b")
    rows = api(personas.member).get(
        f"/api/v1/workspaces/{personas.workspace.public_id}/apps/").json()
    assert {r["name"]: r["credits_used_this_month"] for r in rows} == {"Storefront": 3,
                                                                        "Other": 2}


def test_admin_sets_cap_and_sandbox_in_the_dashboard(client, personas):
    client.force_login(personas.admin)
    response = client.post(page(personas), {"action": "update", "name": "Storefront",
                                            "monthly_credit_cap": "1000", "sandbox_mode": "on"})
    assert response.status_code == 302
    personas.app.refresh_from_db()
    assert personas.app.monthly_credit_cap == 1000 and personas.app.sandbox_mode is True
    entry = AuditEntry.objects.get(action="app.sandbox_mode")
    assert entry.actor == personas.admin and set(entry.changes) == {"monthly_credit_cap",
                                                                     "sandbox_mode"}
    response = client.post(page(personas), {"action": "update", "name": "Storefront",
                                            "monthly_credit_cap": "0"})
    assert response.status_code == 200 and "greater than or equal to 1" in \
        response.content.decode()
    personas.app.refresh_from_db()
    assert personas.app.monthly_credit_cap == 1000 and personas.app.sandbox_mode is True


def test_a_member_who_made_the_app_sees_the_settings_locked_and_cannot_post_them(client,
                                                                                 personas):
    mine = make_app(personas.workspace, personas.member, "Mine")
    client.force_login(personas.member)
    html = client.get(page(personas, mine)).content.decode()
    assert 'name="monthly_credit_cap"' in html and "disabled" in html
    assert "Only workspace admins and owners change this." in html
    response = client.post(page(personas, mine), {"action": "update", "name": "Renamed",
                                                  "monthly_credit_cap": "5",
                                                  "sandbox_mode": "on"})
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.name, mine.monthly_credit_cap, mine.sandbox_mode) == ("Renamed", None, False)
    assert not AuditEntry.objects.filter(action__in=["app.credit_cap",
                                                     "app.sandbox_mode"]).exists()


def test_plain_member_and_outsider_from_the_wrong_side_of_the_page(client, personas):
    client.force_login(personas.member)
    assert client.post(page(personas), {"action": "update", "name": "Storefront",
                                        "monthly_credit_cap": "5"}).status_code == 403
    client.force_login(personas.outsider)
    assert client.get(page(personas)).status_code == 404
    assert client.post(page(personas), {"action": "update", "name": "x",
                                        "monthly_credit_cap": "5"}).status_code == 404
    personas.app.refresh_from_db()
    assert personas.app.monthly_credit_cap is None


# --------------------------------------------------------------------------- the app page


def test_the_page_shows_cap_and_use_to_members_read_only(client, personas):
    set_cap(personas.app, 1000)
    spend(personas.app, 312, "a")
    client.force_login(personas.member)
    html = client.get(page(personas)).content.decode()
    assert "312 of 1,000 credits this month" in html
    assert '<meter min="0" max="1000" value="312"' in html
    assert "Only workspace admins and owners set the cap" in html
    assert 'name="monthly_credit_cap"' not in html  # no form for a plain member
    assert 'data-testid="cap-notice"' not in html


def test_the_page_without_a_cap_shows_the_use(client, personas):
    spend(personas.app, 12, "a")
    client.force_login(personas.owner)
    html = client.get(page(personas)).content.decode()
    assert "12 credits this month" in html and "No monthly cap" in html
    assert 'name="monthly_credit_cap"' in html


def test_the_page_carries_the_80_and_100_notices(client, personas):
    set_cap(personas.app, 10)
    client.force_login(personas.member)
    spend(personas.app, 8, "a")
    html = client.get(page(personas)).content.decode()
    assert 'data-testid="cap-notice"' in html and "used 80% of its monthly credit cap" in html
    spend(personas.app, 2, "b")
    html = client.get(page(personas)).content.decode()
    assert "This app reached its monthly credit cap on" in html
    assert "until an admin raises the cap" in html
