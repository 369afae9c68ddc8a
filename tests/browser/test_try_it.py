"""Try it in real Chromium: fill an operation's form, Send, and the result swaps in without a
reload (fetch, try_it.js), focus on it; a bad value comes back marked next to its field; no
Content-Security-Policy violation, axe-core finds no serious or critical violation on the
page with a result open, and at 390 px nothing scrolls sideways and axe-core is still
satisfied, the result's code blocks reachable from the keyboard (screenshots in
artifacts/screenshots/try-it-*.png)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from tests.browser.pages import ARTIFACTS, axe_source
from tests.browser.test_dashboard_pages import AXE_RUN, CSP_PROBE, SIDEWAYS
from tests.integrations import proxy_support

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

egress_open = proxy_support.egress_open
upstream = proxy_support.upstream
_fresh_proxy_state = proxy_support._fresh_proxy_state


def test_send_swaps_the_result_in_without_a_reload(browser, live_server, upstream, egress_open):
    from integrations.models import CallLog
    from tests.factories import UserFactory, add_member, make_app, shared_workspace
    from workspaces.models import Role

    owner, member = UserFactory(email="owner-try@example.com"), UserFactory(
        email="member-try@example.com")
    ws = shared_workspace(owner, "Try Co")
    add_member(ws, member, Role.MEMBER)
    make_app(ws, owner, "Storefront")
    integration = proxy_support.make_integration(
        ws, upstream.url("/v1"), keys=["get:/pets", "get:/pets/{petId}", "post:/pets"],
        headers=[("X-Api-Key", "sk_live_BROWSER_CANARY_1", True)])
    upstream.routes["/v1/pets/5"] = lambda h: h.reply(
        200, json.dumps({"id": 5, "name": "Rex", "owner": {"name": "Ann"}}).encode(),
        [("Content-Type", "application/json"), ("X-RateLimit-Remaining", "9")])

    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440,
                                                                       "height": 900})
    context.set_default_timeout(15000)
    context.add_init_script(CSP_PROBE)
    context.add_init_script(axe_source())  # as the page sweep runs it (no inline script)
    client = Client()
    client.force_login(member)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_server.url}])
    page = context.new_page()
    try:
        page.goto(reverse("integration-detail", args=[ws.public_id, integration.public_id]))
        page.evaluate("window.__samePage = 'yes'")
        panel = page.locator("#try-1")
        panel.locator("summary", has_text="Try it").click()
        panel.get_by_label("petId").fill("5")
        panel.get_by_test_id("try-send").click()

        status = page.locator("#try-1 [data-testid=try-status]")
        status.wait_for()
        assert status.inner_text() == "The external API answered 200."
        assert page.evaluate("window.__samePage") == "yes"  # swapped in, not reloaded
        assert page.evaluate("document.activeElement.id") == "try-1-result"
        result = page.locator("#try-1-result")
        assert '"Rex"' in result.inner_text()
        assert page.locator("#try-1 [data-testid=try-headers]").inner_text().count("9") >= 1
        assert ("call(\"pets\", \"get:/pets/{petId}\", {path_params: {petId: 5}})"
                in page.locator("#try-1-snippet").inner_text())
        assert page.locator("#try-1 [data-testid=try-credits]").inner_text() == "1 charged"
        assert [s.path for s in upstream.seen] == ["/v1/pets/5"]

        # a value that doesn't fit: marked at its field, the typed text kept, nothing sent
        page.locator("#try-1").get_by_label("petId").fill("-1.5")
        page.locator("#try-1").get_by_test_id("try-send").click()
        page.locator("#try-1 [data-testid=try-field-error]").wait_for()
        assert page.evaluate("window.__samePage") == "yes"
        assert page.locator("#try-1").get_by_label("petId").input_value() == "-1.5"
        assert "is not of type 'integer'" in page.locator(
            "#try-1 [data-testid=try-field-error]").inner_text()
        assert len(upstream.seen) == 1
        assert "sk_live_BROWSER_CANARY_1" not in page.content()

        violations: list[dict[str, Any]] = page.evaluate(AXE_RUN)
        assert violations == [], violations
        assert page.evaluate("window.__csp") == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "try-it-1440.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing sideways
        assert page.evaluate(SIDEWAYS) <= 0
        # what scrolls at this width takes keyboard focus (app.js, on resize), what wraps
        # (the Try it snippet) adds no tab stop
        page.wait_for_function("""() => [...document.querySelectorAll('main pre')].every(
            e => (e.scrollWidth > e.clientWidth) === (e.getAttribute('tabindex') === '0'))""")
        assert page.locator("#try-1-snippet").get_attribute("tabindex") is None
        violations = page.evaluate(AXE_RUN)
        assert violations == [], violations
        page.screenshot(path=str(ARTIFACTS / "try-it-390.png"), full_page=True)
    finally:
        context.close()
    rows = list(CallLog.objects.order_by("id").values_list("caller_kind", "caller_name",
                                                             "response_status"))
    assert rows == [("dashboard", member.name, 200), ("dashboard", member.name, 400)]
