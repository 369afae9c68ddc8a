"""The Calls page: members see their workspace's calls (filters, request ids, usage chart);
outsiders get 404; a bounded number of queries."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone

from integrations.calls_views import usage_chart
from integrations.models import CallLog
from tests.factories import make_app
from tests.integrations import proxy_support
from tests.integrations.proxy_support import make_integration

# the shared fixtures of the proxy tests
_fresh_proxy_state = proxy_support._fresh_proxy_state
egress_open = proxy_support.egress_open
upstream = proxy_support.upstream

pytestmark = pytest.mark.django_db


def log(personas: Any, n: int, *, app: Any = None, slug: str = "crm", status: int = 200,
        upstream: int | None = 200, credits: int = 1, days_ago: int = 0,
        error_code: str = "") -> CallLog:
    row = CallLog.objects.create(
        request_id=f"req_{slug}_{n}_{status}_{days_ago}", workspace=personas.workspace,
        app=app or personas.app, integration_slug=slug, operation="get:/contacts",
        caller_kind="service", phase="responded" if upstream else "not_sent",
        status_code=upstream, response_status=status, error_code=error_code, latency_ms=12,
        credits=credits)
    if days_ago:
        CallLog.objects.filter(pk=row.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago))
    return row


def url(personas: Any, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/w/{personas.workspace.public_id}/calls/" + (f"?{query}" if query else "")


def test_members_see_calls_with_request_ids(client, personas):
    log(personas, 1)
    log(personas, 2, status=502, upstream=None, credits=0, error_code="upstream_unreachable")
    client.force_login(personas.member)
    page = client.get(url(personas)).content.decode()
    assert "req_crm_1_200_0" in page and "req_crm_2_502_0" in page
    assert "upstream_unreachable" in page
    assert 'data-testid="usage-chart"' in page and "<svg" in page and "<rect" in page
    assert 'data-testid="total-calls">2<' in page and 'data-testid="total-credits">1<' in page
    assert f'href="/w/{personas.workspace.public_id}/calls/"' in page  # in the sidebar


def test_outsiders_get_404_and_anonymous_users_sign_in(client, personas):
    client.force_login(personas.outsider)
    assert client.get(url(personas)).status_code == 404
    client.logout()
    assert client.get(url(personas)).status_code == 302


def test_filters(client, personas):
    other_app = make_app(personas.workspace, personas.owner, "Backoffice")
    log(personas, 1)
    log(personas, 2, app=other_app, slug="billing")
    log(personas, 3, upstream=404)
    log(personas, 4, status=429, upstream=None, credits=0, error_code="rate_limited")
    log(personas, 5, status=504, upstream=None, error_code="upstream_timeout")
    log(personas, 6, days_ago=20)
    client.force_login(personas.member)

    def ids(**params: str) -> set[str]:
        response = client.get(url(personas, **params))
        assert response.status_code == 200
        return {c.request_id for c in response.context["page"]}

    assert ids() == {"req_crm_1_200_0", "req_billing_2_200_0", "req_crm_3_200_0",
                     "req_crm_4_429_0", "req_crm_5_504_0"}
    assert ids(app=other_app.public_id) == {"req_billing_2_200_0"}
    assert ids(outcome="success") == {"req_crm_1_200_0", "req_billing_2_200_0"}
    assert ids(outcome="upstream_error") == {"req_crm_3_200_0"}
    assert ids(outcome="refused") == {"req_crm_4_429_0"}
    assert ids(outcome="failed") == {"req_crm_5_504_0"}
    assert ids(status="404") == {"req_crm_3_200_0"}
    assert ids(status="429") == {"req_crm_4_429_0"}
    assert "req_crm_6_200_20" in ids(period="30d")
    assert ids(request_id="req_crm_5_504_0") == {"req_crm_5_504_0"}


def test_integration_filter_lists_the_workspace_integrations(client, personas, upstream,
                                                             egress_open):
    make_integration(personas.workspace, upstream.url("/v1"), slug="crm")
    log(personas, 1)
    log(personas, 2, slug="gone")  # an integration deleted since: still filterable by id
    client.force_login(personas.member)
    response = client.get(url(personas, integration="crm"))
    assert {c.request_id for c in response.context["page"]} == {"req_crm_1_200_0"}


def test_page_runs_a_bounded_number_of_queries(client, personas,
                                               django_assert_max_num_queries):
    for n in range(60):
        log(personas, n)
    client.force_login(personas.member)
    # the page's own: membership, apps, integrations, totals, rows, chart (6); the rest is
    # the session, user, sidebar and notification badge every page pays
    with django_assert_max_num_queries(13):
        response = client.get(url(personas))
    assert len(response.context["page"].object_list) == 50
    assert "page=2" in response.content.decode()


def test_usage_chart_stacks_integrations_per_day() -> None:
    today = date(2026, 3, 10)
    rows = [
        {"day": today, "integration_slug": "crm", "calls": 6, "credits": 5},
        {"day": today, "integration_slug": "billing", "calls": 2, "credits": 2},
        {"day": today - timedelta(days=2), "integration_slug": "crm", "calls": 3,
         "credits": 3},
        {"day": today - timedelta(days=30), "integration_slug": "crm", "calls": 9,
         "credits": 9},  # outside the period
    ]
    chart = usage_chart(rows, 7, today)
    assert [item["slug"] for item in chart["legend"]] == ["crm", "billing"]
    assert chart["peak"] == 8 and chart["credit_peak"] == 7  # each on its own scale
    # The credits line reaches the top on its busiest day, like the bars on theirs.
    top = [float(p.split(",")[1]) for p in chart["credit_points"].split()]
    assert min(top) == pytest.approx(chart["bars"][2].y, abs=0.2)
    assert [(r["calls"], r["credits"]) for r in chart["table"]] == [(3, 3), (8, 7)]
    assert len(chart["bars"]) == 3
    crm_today, billing_today = chart["bars"][1], chart["bars"][2]
    assert crm_today.color != billing_today.color
    assert billing_today.y + billing_today.height == pytest.approx(crm_today.y, abs=0.2)
    assert "Mar 10: billing, 2 calls, 2 credits" == billing_today.title
    assert len(chart["credit_points"].split()) == 7


def test_other_workspaces_calls_never_show(client, personas):
    """Outsider rows stay out, even when the filter names the outsider's own app."""
    log(personas, 1)
    CallLog.objects.create(
        request_id="req_rival_1", workspace=personas.outsider_workspace,
        app=personas.outsider_app, integration_slug="crm", operation="get:/contacts",
        caller_kind="service", phase="responded", status_code=200, response_status=200,
        latency_ms=3, credits=1)
    client.force_login(personas.member)
    for params in ({}, {"app": personas.outsider_app.public_id}, {"integration": "crm"},
                   {"request_id": "req_rival_1"}):
        response = client.get(url(personas, **params))
        assert response.status_code == 200
        rows = {c.request_id for c in response.context["page"]}
        assert "req_rival_1" not in rows
        assert "<code>req_rival_1</code>" not in response.content.decode()
    # the outsider, signed in, sees their own call and not ours
    client.force_login(personas.outsider)
    own = f"/w/{personas.outsider_workspace.public_id}/calls/"
    page = client.get(own).content.decode()
    assert "<code>req_rival_1</code>" in page and "req_crm_1_200_0" not in page


def test_a_bad_filter_value_is_reported_and_the_others_still_apply(client, personas):
    other_app = make_app(personas.workspace, personas.owner, "Backoffice")
    log(personas, 1)
    log(personas, 2, app=other_app, slug="billing")
    client.force_login(personas.member)
    response = client.get(url(personas, app=other_app.public_id, status="999"))
    assert response.status_code == 200
    assert {c.request_id for c in response.context["page"]} == {"req_billing_2_200_0"}
    assert "Ensure this value is less than or equal to 599" in response.content.decode()


def test_period_and_usage_numbers_on_the_page(client, personas):
    log(personas, 1, credits=1)
    log(personas, 2, slug="billing", credits=1)
    log(personas, 3, status=402, upstream=None, credits=0,
        error_code="integration_credits_limit_reached")
    log(personas, 4, days_ago=3)
    client.force_login(personas.member)
    page = client.get(url(personas, period="24h")).content.decode()
    assert 'data-testid="total-calls">3<' in page and 'data-testid="total-credits">2<' in page
    assert "req_crm_4_200_3" not in page
    assert ": crm, 2 calls, 1 credit" in page and ": billing, 1 call, 1 credit" in page
    page = client.get(url(personas, period="7d")).content.decode()
    assert 'data-testid="total-calls">4<' in page and "req_crm_4_200_3" in page


def test_the_integration_card_shows_when_it_was_last_used(client, personas, sdk, upstream,
                                                          egress_open):
    make_integration(personas.workspace, upstream.url("/v1"), slug="crm")
    client.force_login(personas.member)
    cards = f"/w/{personas.workspace.public_id}/integrations/"
    assert "last used never" in " ".join(client.get(cards).content.decode().split())
    r = sdk(personas.app).post(proxy_support.call_url(personas.app.public_id, "crm",
                                                      "get:/pets"), {}, format="json")
    assert r.status_code == 200
    page = " ".join(client.get(cards).content.decode().split())
    assert "last used never" not in page and "last used now" in page
