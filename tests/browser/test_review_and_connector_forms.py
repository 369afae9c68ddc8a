"""Two pages in real Chromium:

- the catalog review page at 1440 px: the submission on the left, the decision panel in a side
  column that stays in view while the reviewer scrolls to the end of a long submission, using
  the width beside the sidebar; at 390 px the panel comes after the submission without
  sideways scrolling; no serious/critical axe-core violation;
- the workspace connector register form: choosing GitHub fills the URL and scope fields from
  providers.yaml (static/js/connectors.js, no CSP violation), and the callback URL is shown.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.pages import ARTIFACTS, axe_source

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSP_PROBE = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI}`);
});
"""
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({id: v.id, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}));
}"""
BOX = "(sel) => { const r = document.querySelector(sel).getBoundingClientRect(); " \
      "return {top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width}; }"


def _context(browser, live_server, user: Any, width: int):  # type: ignore[no-untyped-def]
    from django.test import Client

    context = browser.new_context(base_url=live_server.url,
                                  viewport={"width": width, "height": 900 if width > 800 else 844})
    context.set_default_timeout(15000)
    context.add_init_script(CSP_PROBE)
    context.add_init_script(axe_source())
    client = Client()
    client.force_login(user)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                          "url": live_server.url}])
    return context


@pytest.fixture
def long_update(personas):  # type: ignore[no-untyped-def]
    """An approved integration and a submitted update with a long prompt (the page scrolls)."""
    from catalog import services
    from tests.catalog.conftest import make_integration
    from tests.factories import UserFactory

    reviewer = UserFactory(email="reviewer@example.com", is_staff=True)
    integration = make_integration(personas.workspace, personas.member)
    services.approve_submission(services.submit_for_review(integration, actor=personas.member),
                                actor=reviewer)
    integration.refresh_from_db()
    more = "\n\n".join(f"## Step {n}\n\nCall the endpoint and check the answer, case {n}."
                       for n in range(60))
    services.update_integration(integration, actor=personas.member,
                                data={"prompt": integration.prompt + "\n\n" + more})
    return reviewer, services.submit_for_review(integration, actor=personas.member)


def test_review_decision_panel_stays_in_view_at_1440(browser, live_server, long_update):
    reviewer, revision = long_update
    context = _context(browser, live_server, reviewer, 1440)
    page = context.new_page()
    page.goto(f"/catalog/review/{revision.pk}/")
    panel, submission = "[data-testid=decision-panel]", "[data-testid=submission]"
    main = page.evaluate(BOX, "main")
    assert main["width"] > 1150, main  # the whole width beside the 220 px sidebar, not 1100
    first = page.evaluate(BOX, panel)
    assert first["left"] > page.evaluate(BOX, submission)["right"]  # a side column
    height = page.evaluate("document.scrollingElement.scrollHeight")
    assert height > 3 * 900, height  # the submission is long enough to scroll
    for y in (1500, height):
        page.evaluate(f"window.scrollTo(0, {y})")
        page.wait_for_function(f"window.scrollY >= Math.min({y}, "
                               "document.scrollingElement.scrollHeight - innerHeight) - 1")
        box = page.evaluate(BOX, panel)
        assert 0 <= box["top"] and box["bottom"] <= 900, (y, box)
        assert page.get_by_test_id("decide").is_visible()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review-1440-scrolled.png"))  # for a reviewer
    # the diff against the live revision is one click away
    page.get_by_test_id("diff-link").click()
    page.wait_for_function("location.hash === '#diff'")
    diff = page.evaluate(BOX, "#diff")
    assert 0 <= diff["top"] < 900, diff
    page.get_by_label("Comment").fill("Reads well")
    assert page.evaluate(AXE_RUN) == []
    assert page.evaluate("window.__csp") == []
    context.close()


def test_review_decision_comes_after_the_submission_on_a_phone(browser, live_server,
                                                               long_update):
    reviewer, revision = long_update
    context = _context(browser, live_server, reviewer, 390)
    page = context.new_page()
    page.goto(f"/catalog/review/{revision.pk}/")
    panel = page.evaluate(BOX, "[data-testid=decision-panel]")
    assert panel["top"] > page.evaluate(BOX, "[data-testid=submission]")["bottom"]
    assert page.evaluate(BOX, "[data-testid=decision-panel]")["width"] <= 390
    assert page.evaluate("document.scrollingElement.scrollWidth - innerWidth") <= 0
    context.close()


def test_choosing_github_prefills_the_register_form(browser, live_server, personas, settings):
    from connectors import providers

    settings.SITE_URL = live_server.url
    settings.CONNECTOR_CALLBACK_URL = ""
    github = providers.get("github")
    assert github is not None
    context = _context(browser, live_server, personas.admin, 1440)
    page = context.new_page()
    page.goto(f"/w/{personas.workspace.public_id}/connectors/")
    callback = f"{live_server.url}/connectors/oauth/callback/"
    assert page.get_by_test_id("callback-url").inner_text() == callback
    assert not page.get_by_test_id("prefill-form").is_visible()  # JS does it in place
    page.get_by_label("Name").fill("Our GitHub app")
    page.get_by_label("Provider type").select_option("github")
    assert page.get_by_label("Authorize url").input_value() == github.authorize_url
    assert page.get_by_label("Token url").input_value() == github.token_url
    assert page.get_by_label("Scopes").input_value() == " ".join(github.scopes)
    assert page.get_by_label("Name").input_value() == "Our GitHub app"  # typed: kept
    page.get_by_label("Scopes").fill("repo")  # typed: kept when switching
    page.get_by_label("Provider type").select_option("zendesk")
    assert "{subdomain}" in page.get_by_label("Authorize url").input_value()
    assert page.get_by_test_id("placeholder-note").is_visible()
    page.screenshot(path=str(ARTIFACTS / "connector-register-prefilled.png"), full_page=True)
    assert page.get_by_label("Scopes").input_value() == "repo"
    page.get_by_label("Provider type").select_option("")
    assert page.get_by_label("Authorize url").input_value() == ""
    assert page.evaluate(AXE_RUN) == []
    # the app's Connectors page: the setup guidance passes axe too
    page.goto(f"/w/{personas.workspace.public_id}/apps/{personas.app.public_id}/connectors/")
    assert "CONNECTOR_GITLAB_CLIENT_ID" in page.get_by_test_id("setup-gitlab").inner_text()
    assert page.evaluate(AXE_RUN) == []
    assert page.evaluate("window.__csp") == []
    context.close()
