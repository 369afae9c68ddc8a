"""The Credits page (issue 14 §3/§4.8): usage by day and by app/integration linking to the Calls
page, grants/awards/refunds as their own rows, the burn rate and the run-out date, the top
operations, and the pygal chart served as its own SVG image under its own strict CSP."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from integrations.models import CallLog
from tests.factories import make_app
from workspaces import credits
from workspaces.models import CreditEntry

pytestmark = pytest.mark.django_db


def spend(personas: Any, n: int, *, app: Any = None, slug: str = "crm",
          operation: str = "get:/contacts", amount: int = 1, days_ago: int = 0) -> CallLog:
    """One metered call as the proxy leaves it: a ledger charge and its call log row."""
    app = app or personas.app
    key = f"proxy:req_{slug}_{app.public_id}_{n}_{days_ago}"
    entry = credits.charge(personas.workspace, amount, idempotency_key=key,
                           reason=f"Integration call {slug} {operation}")
    row = CallLog.objects.create(
        request_id=key[6:], workspace=personas.workspace, app=app, integration_slug=slug,
        operation=operation, caller_kind="service", phase="responded", status_code=200,
        response_status=200, latency_ms=5, credits=amount)
    if days_ago:
        when = timezone.now() - timedelta(days=days_ago)
        CallLog.objects.filter(pk=row.pk).update(created_at=when)
        CreditEntry.objects.filter(pk=entry.pk).update(created_at=when)
    return row


def page(client: Any, personas: Any, query: str = "") -> str:
    response = client.get(f"/w/{personas.workspace.public_id}/credits/{query}")
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def usage(personas):
    """Two apps, two integrations, over three days; a refund and an award."""
    other = make_app(personas.workspace, personas.owner, "Backoffice")
    for n in range(3):
        spend(personas, n, slug="crm")
    spend(personas, 10, slug="crm", days_ago=1)
    for n in range(2):
        spend(personas, 20 + n, app=other, slug="maps", operation="get:/geocode", amount=5,
              days_ago=2)
    credits.refund(personas.workspace, 1, reason="Refund: integration call crm was not sent",
                   idempotency_key="proxy:x:refund")
    credits.award(personas.workspace, 250, reason="First approval: Pixel Painter",
                  idempotency_key="award:x", reference_url="/somewhere/")
    return other


def test_usage_is_grouped_by_day_and_by_app_and_integration_with_calls_links(
        client, personas, usage):
    client.force_login(personas.member)  # members may see it, as before
    html = page(client, personas)
    ws = personas.workspace.public_id
    # one usage row per day, not one per call; the award and the refund keep their own rows
    assert html.count('data-testid="activity-usage"') == 3
    assert html.count('data-testid="activity-refund"') == 1
    assert html.count('data-testid="activity-award"') == 1
    assert "First approval: Pixel Painter" in html and 'href="/somewhere/"' in html
    assert "Integration call crm" not in html  # no raw charge rows in the overview
    # the breakdown links to the Calls page with its own filters
    assert (f'href="/w/{ws}/calls/?period=30d&amp;app={personas.app.public_id}'
            f'&amp;integration=crm"') in html
    assert (f'href="/w/{ws}/calls/?period=30d&amp;app={usage.public_id}'
            f'&amp;integration=maps"') in html
    assert "Backoffice · <code>maps</code></a>: 10 credits, 2 calls" in html
    # top operations, biggest first
    ops = html[html.index('data-testid="top-operations"'):]
    assert ops.index("get:/geocode") < ops.index("get:/contacts")


def test_burn_rate_and_run_out_date(client, personas, usage):
    personas.workspace.__class__.objects.filter(pk=personas.workspace.pk).update(
        created_at=timezone.now() - timedelta(days=100))
    client.force_login(personas.owner)
    html = page(client, personas)
    # 3 + 1 + 10 spent, 1 refunded: 13 net over 30 days
    burn = html[html.index('data-testid="burn-rate"'):html.index('data-testid="runs-out"')]
    assert "13 credits spent" in burn and "30 days" in burn and ">0.4<" in burn
    balance = credits.balance(personas.workspace)
    assert balance == 2000 - 14 + 1 + 250
    expected = timezone.localdate() + timedelta(days=int(balance / (13 / 30)))
    runs_out = html[html.index('data-testid="runs-out"'):]
    assert f"{expected:%b} {expected.day}, {expected.year}" in runs_out


def test_a_new_workspace_averages_over_its_own_age_and_nothing_spent_projects_nothing(
        client, personas):
    client.force_login(personas.owner)
    html = page(client, personas)
    assert "Nothing spent in this period: no projection." in html
    assert 'data-testid="no-usage"' in html
    spend(personas, 1, amount=10)
    html = page(client, personas)
    burn = html[html.index('data-testid="burn-rate"'):html.index('data-testid="runs-out"')]
    assert ">10<" in burn and "last 1 day." in burn  # created today: not divided by 30


def test_90_days_and_by_app(client, personas, usage):
    spend(personas, 99, slug="old", days_ago=60)
    client.force_login(personas.owner)
    assert "<code>old</code>" not in page(client, personas)
    html = page(client, personas, "?period=90d&by=app")
    table = html[html.index('data-testid="series-table"'):]
    assert "Backoffice" in table and "Storefront" in table
    ws = personas.workspace.public_id
    assert f'src="/w/{ws}/credits/chart.svg?period=90d&amp;by=app"' in html
    assert "<code>old</code>" in html  # the 60-day-old usage row
    # unknown values fall back to the defaults, no error
    assert "Last 30 days" in page(client, personas, "?period=7y&by=nope")


def test_the_chart_is_a_pygal_svg_with_its_own_strict_policy(client, personas, usage):
    client.force_login(personas.member)
    response = client.get(f"/w/{personas.workspace.public_id}/credits/chart.svg?by=app")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("image/svg+xml")
    svg = response.content
    root = ElementTree.fromstring(svg)  # well-formed: names are escaped
    assert root.tag.endswith("svg") and b"pygal" in svg
    assert b"<script" not in svg and b"style=" not in svg  # no script, no style attribute
    texts = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
    assert "Credits per day, by app" in texts
    # one bar value per day per series: Backoffice 10 two days ago; Storefront 1, then 3 today
    values = [int(v) for v in re.findall(rb'<desc class="value">(\d+)</desc>', svg)]
    assert len(values) == 2 * 30 and sorted(v for v in values if v) == [1, 3, 10]
    policy = response["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "script-src" not in policy
    assert policy.startswith("default-src 'none'")
    styles = re.findall(rb"<style[^>]*>(.*?)</style>", svg, re.S)
    assert styles
    for style in styles:
        text = style.replace(b"&gt;", b">").replace(b"&lt;", b"<").replace(b"&amp;", b"&")
        digest = base64.b64encode(hashlib.sha256(text).digest()).decode()
        assert f"'sha256-{digest}'" in policy


def test_app_names_are_escaped_in_the_page_and_the_svg(client, personas):
    evil = make_app(personas.workspace, personas.owner, "<script>x</script>")
    spend(personas, 1, app=evil)
    client.force_login(personas.owner)
    html = page(client, personas, "?by=app")
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    svg = client.get(f"/w/{personas.workspace.public_id}/credits/chart.svg?by=app").content
    assert b"<script>x" not in svg
    ElementTree.fromstring(svg)


@pytest.mark.parametrize("path", ["credits/", "credits/chart.svg", "credits/?view=ledger"])
def test_outsiders_get_404_and_anonymous_users_sign_in(client, personas, path):
    url = f"/w/{personas.workspace.public_id}/{path}"
    assert client.get(url).status_code == 302 and "/login/" in client.get(url)["Location"]
    client.force_login(personas.outsider)
    assert client.get(url).status_code == 404


def test_the_full_ledger_keeps_one_row_per_entry(client, personas, usage):
    client.force_login(personas.member)
    html = page(client, personas, "?view=ledger")
    assert html.count("Integration call crm get:/contacts") == 4
    assert "First approval: Pixel Painter" in html


def test_query_count_does_not_grow_with_usage(client, personas, usage):
    client.force_login(personas.owner)
    page(client, personas)
    with CaptureQueriesContext(connection) as small:
        page(client, personas)
    apps = [make_app(personas.workspace, personas.owner, f"App {n}") for n in range(6)]
    for n, app in enumerate(apps):
        for day in range(5):
            spend(personas, 100 + n * 10 + day, app=app, slug=f"int{n}", days_ago=day)
    with CaptureQueriesContext(connection) as big:
        html = page(client, personas)
    assert len(big) == len(small) <= 14, [q["sql"] for q in big.captured_queries]
    assert "App 5" in html
    with CaptureQueriesContext(connection) as chart:
        client.get(f"/w/{personas.workspace.public_id}/credits/chart.svg")
    assert len(chart) <= 6, [q["sql"] for q in chart.captured_queries]
