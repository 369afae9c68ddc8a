"""A capped app's calls through the real proxy and callApi: over the cap, 402 in the SDK error
shape with ``extra_data.reason = "app_credit_cap_reached"``, nothing sent upstream and nothing
charged; another app of the workspace is not affected; a refunded (not sent) call gives its
usage back."""

from __future__ import annotations

from typing import Any

import pytest

from integrations.models import CallLog
from tests.connectors.support import make_connection
from tests.factories import make_app
from tests.integrations import proxy_support
from tests.integrations.egress_support import Upstream
from tests.integrations.proxy_support import call_url, make_integration
from workspaces import credits
from workspaces.credits import month_start
from workspaces.models import App, AppCreditUsage, CreditEntry

_fresh_proxy_state = proxy_support._fresh_proxy_state
egress_open = proxy_support.egress_open
upstream = proxy_support.upstream

pytestmark = pytest.mark.django_db

CAP_MESSAGE = "This app has reached its monthly credit cap of 2 credits"


def set_cap(app: App, cap: int | None) -> None:
    App.objects.filter(pk=app.pk).update(monthly_credit_cap=cap)
    app.refresh_from_db()


def used(app: App) -> int:
    row = AppCreditUsage.objects.filter(app=app, month=month_start()).first()
    return row.used if row else 0


def assert_cap_refusal(response: Any) -> None:
    assert response.status_code == 402, response.content
    body = response.json()
    assert body["code"] == "app_credit_cap_reached"
    assert body["extra_data"] == {"reason": "app_credit_cap_reached"}
    assert body["detail"] == body["message"] and body["message"].startswith(CAP_MESSAGE)


# --------------------------------------------------------------------------- the proxy


@pytest.fixture
def pets(personas: Any, upstream: Upstream, egress_open: Any) -> Any:
    return make_integration(personas.workspace, upstream.url("/v1"))


def proxy_call(client: Any, app: App) -> Any:
    return client.post(call_url(app.public_id, "pets", "get:/pets"), {}, format="json")


def test_the_proxy_refuses_over_the_cap_with_402_nothing_sent_nothing_charged(personas, sdk,
                                                                              pets, upstream):
    app = personas.app
    set_cap(app, 2)
    client = sdk(app)
    assert [proxy_call(client, app).status_code for _ in range(2)] == [200, 200]
    response = proxy_call(client, app)
    assert_cap_refusal(response)
    assert len(upstream.seen) == 2  # the refused call never left
    assert credits.balance(personas.workspace) == 1998
    assert CreditEntry.objects.filter(kind="usage").count() == 2 and used(app) == 2
    row = CallLog.objects.latest("id")
    assert (row.response_status, row.credits, row.error_code) == (
        402, 0, "app_credit_cap_reached")
    # another app of the workspace spends on
    other = make_app(personas.workspace, personas.owner, "Other")
    assert proxy_call(sdk(other), other).status_code == 200
    # raising the cap lets the app call again at once
    set_cap(app, 3)
    assert proxy_call(client, app).status_code == 200 and used(app) == 3


def test_the_proxy_counts_usage_of_an_uncapped_app(personas, sdk, pets, upstream):
    client = sdk(personas.app)
    for _ in range(3):
        assert proxy_call(client, personas.app).status_code == 200
    assert used(personas.app) == 3


# --------------------------------------------------------------------------- callApi


@pytest.fixture
def twitter(settings: Any, personas: Any, upstream: Upstream) -> App:
    settings.EGRESS_ALLOW_CIDRS = ["127.0.0.0/8"]
    settings.EGRESS_ALLOWED_PORTS = [80, 443, upstream.port]
    settings.CONNECTOR_CALL_TIMEOUT_SECONDS = 1.0
    settings.PROXY_RATE_LIMIT_PER_MINUTE = 0
    settings.CONNECTOR_PROVIDER_OVERRIDES = {"twitter": {
        "hosts": {"api": upstream.url("").rstrip("/"), "upload": upstream.url("/up")}}}
    settings.CONNECTOR_CLIENTS = {"twitter": {"client_id": "x", "client_secret": "y"}}
    make_connection(personas.app, integration_type="twitter", access="AT-capped")
    return personas.app


def call_api(client: Any, app: App, **payload: Any) -> Any:
    request = {"method": "GET", "path": "/2/users/me", "query": {}, "headers": {},
               "body": None, **payload}
    return client.post(f"/api/apps/{app.public_id}/connectors/twitter/call", request,
                       format="json")


def test_call_api_refuses_over_the_cap_with_402_nothing_sent_nothing_charged(sdk, twitter,
                                                                             upstream):
    upstream.routes["/2/users/me"] = lambda h: h.reply(200, b'{"id": "1"}',
                                                       [("Content-Type", "application/json")])
    set_cap(twitter, 2)
    client = sdk(twitter)
    start = credits.balance(twitter.workspace)
    assert [call_api(client, twitter).json()["credits_charged"] for _ in range(2)] == [1, 1]
    response = call_api(client, twitter)
    assert_cap_refusal(response)
    assert len(upstream.seen) == 2
    assert credits.balance(twitter.workspace) == start - 2 and used(twitter) == 2
    log = CallLog.objects.latest("id")
    assert (log.response_status, log.credits, log.error_code) == (
        402, 0, "app_credit_cap_reached")


def test_call_api_refund_of_a_call_not_sent_gives_the_usage_back(sdk, twitter, settings):
    from tests.connectors.conftest import free_port

    closed = free_port()  # nothing listens there: the connection is refused, not sent
    settings.EGRESS_ALLOWED_PORTS = [80, 443, closed]
    settings.CONNECTOR_PROVIDER_OVERRIDES = {"twitter": {
        "hosts": {"api": f"http://127.0.0.1:{closed}"}}}
    set_cap(twitter, 1)
    start = credits.balance(twitter.workspace)
    body = call_api(sdk(twitter), twitter).json()
    assert (body["phase"], body["credits_charged"]) == ("not_sent", 0)
    assert used(twitter) == 0 and credits.balance(twitter.workspace) == start


def test_a_proxied_call_not_sent_gives_the_usage_back(personas, sdk, egress_open, settings):
    from tests.connectors.conftest import free_port

    closed = free_port()  # nothing listens there: the connection is refused, nothing sent
    settings.EGRESS_ALLOWED_PORTS = [*settings.EGRESS_ALLOWED_PORTS, closed]
    make_integration(personas.workspace, f"http://127.0.0.1:{closed}/v1")
    app = personas.app
    set_cap(app, 1)
    start = credits.balance(personas.workspace)
    response = proxy_call(sdk(app), app)
    assert response.status_code == 502 and response.json()["phase"] == "not_sent"
    assert used(app) == 0 and credits.balance(personas.workspace) == start
    # the cap of 1 is still whole: the next call is not refused for the cap
    assert proxy_call(sdk(app), app).json()["code"] != "app_credit_cap_reached"


# --------------------------------------------------------------------------- month end


def test_a_refund_gives_back_the_usage_of_the_month_the_charge_was_made_in(personas):
    """Charged at 23:59:59 on the last day of a month, refunded a second later: the month
    that counted the charge gets it back, the new month's usage is not touched."""
    from datetime import UTC, datetime, timedelta

    app = personas.app
    this_month = month_start()
    charged_at = datetime.combine(this_month, datetime.min.time(), UTC) - timedelta(seconds=1)
    last_month = month_start(charged_at)
    AppCreditUsage.objects.create(app=app, month=last_month, used=5)
    AppCreditUsage.objects.create(app=app, month=this_month, used=3)
    credits.refund(personas.workspace, 1, app=app, reason="not sent",
                   idempotency_key="month-end-refund", charged_at=charged_at)
    rows = dict(AppCreditUsage.objects.filter(app=app).values_list("month", "used"))
    assert rows == {last_month: 4, this_month: 3}
    # without the charge's time: this month's, as before
    credits.refund(personas.workspace, 1, app=app, reason="not sent",
                   idempotency_key="plain-refund")
    rows = dict(AppCreditUsage.objects.filter(app=app).values_list("month", "used"))
    assert rows == {last_month: 4, this_month: 2}


def test_the_proxy_and_call_api_refund_with_the_time_of_their_charge(
        personas, sdk, egress_open, twitter, settings, monkeypatch):
    from tests.connectors.conftest import free_port

    refunds: list[Any] = []
    real_refund = credits.refund
    monkeypatch.setattr(credits, "refund", lambda *a, **kw: refunds.append(kw) or real_refund(
        *a, **kw))
    closed = free_port()  # nothing listens there: refused, nothing sent, refunded
    settings.EGRESS_ALLOWED_PORTS = [*settings.EGRESS_ALLOWED_PORTS, closed]
    make_integration(personas.workspace, f"http://127.0.0.1:{closed}/v1")
    assert proxy_call(sdk(personas.app), personas.app).json()["phase"] == "not_sent"
    settings.CONNECTOR_PROVIDER_OVERRIDES = {"twitter": {
        "hosts": {"api": f"http://127.0.0.1:{closed}"}}}
    assert call_api(sdk(twitter), twitter).json()["phase"] == "not_sent"
    charges = CreditEntry.objects.filter(kind="usage").order_by("id")
    assert [r["charged_at"] for r in refunds] == [c.created_at for c in charges]
    assert len(refunds) == 2
