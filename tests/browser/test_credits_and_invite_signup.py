"""In real Chromium (issue 14 §3, §4.6, §4.8): the Credits page's pygal chart loads as an image
under its own policy with no CSP violation, and signing up from an e-mailed invitation lands in
the invited workspace."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from tests.factories import PASSWORD
from tests.integrations.test_credits_page import spend
from workspaces import services
from workspaces.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _watch(page):  # type: ignore[no-untyped-def]
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" or "Content Security" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def _sign_in(page, email: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/w/"))


def test_the_credits_chart_renders_under_the_policy(page, personas):
    for n in range(4):
        spend(personas, n, slug="crm")
    spend(personas, 9, slug="maps", amount=5, days_ago=3)
    problems = _watch(page)
    _sign_in(page, personas.member.email)
    page.goto(f"/w/{personas.workspace.public_id}/credits/")
    img = page.locator("[data-testid=credits-chart-img]")
    img.wait_for()
    page.wait_for_function("document.querySelector('[data-testid=credits-chart-img]').complete")
    assert img.evaluate("i => i.naturalWidth") > 0  # the SVG loaded and decoded
    assert "maps" in page.inner_text("[data-testid=series-table]")
    page.click("text=By app")
    page.wait_for_url(re.compile(r"by=app"))
    page.wait_for_function("document.querySelector('[data-testid=credits-chart-img]').complete")
    assert page.locator("[data-testid=credits-chart-img]").evaluate("i => i.naturalWidth") > 0
    page.screenshot(path="artifacts/screenshots/credits-by-app.png", full_page=True)
    chart = page.get_attribute("[data-testid=credits-chart-img]", "src")
    # the breakdown goes through to the Calls page with its filters
    page.click("[data-testid=activity-usage] a >> nth=0")
    page.wait_for_url(re.compile(r"/calls/\?period=30d&app=\w+&integration=\w+"))
    assert page.locator("[data-testid=call-row]").count() >= 1
    # opened as a document, the SVG's own policy applies: its hashed <style> is allowed (the
    # bars get pygal's colours), nothing is reported as blocked
    page.goto(chart)
    fill = page.evaluate("getComputedStyle(document.querySelector('.plot .rect')).fill")
    assert fill not in ("", "rgb(0, 0, 0)"), fill
    assert not problems, problems


def test_signing_up_from_an_invitation_lands_in_that_workspace(page, live_server, personas):
    services.invite(personas.workspace, actor=personas.owner, email="newcomer@example.com",
                    link_base=live_server.url)
    link = re.search(r"(http://\S+/invite/\S+)", mail.outbox[-1].body).group(1)
    problems = _watch(page)
    page.goto(link)
    page.click("a:has-text('Create an account')")
    page.wait_for_url(re.compile(r"/signup/\?next="))
    assert page.input_value("#id_email") == "newcomer@example.com"
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Create account')")
    page.wait_for_url(re.compile(rf"/w/{personas.workspace.public_id}/apps/$"))
    assert "You joined Acme" in page.content()
    assert Membership.objects.filter(workspace=personas.workspace,
                                     user__email="newcomer@example.com").exists()
    assert not problems, problems
