"""Every dashboard page in real Chromium, built from the URL conf (tests/browser/pages.py):

- at 1440 px as the owner: axe-core finds no serious or critical violation, no
  Content-Security-Policy violation, and a full-page screenshot of each page is saved into
  artifacts/screenshots/1440/ (git-ignored; `make screenshots` runs just these tests);
- at 390 px: no serious or critical axe-core violation either, the navigation is collapsed
  behind a Menu button that opens it, and no page scrolls sideways
  (document.scrollingElement.scrollWidth <= innerWidth); screenshots in
  artifacts/screenshots/390/;
- the integration wizard at 390 px: paste, select, configure, create, without sideways
  scrolling, every button reachable.
"""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

import pytest

from tests.browser.pages import ARTIFACTS, PageList, Seed, axe_source, classify, seed

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSP_PROBE = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}`);
});
"""
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                  nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ")),
                  count: v.nodes.length}));
}"""
SIDEWAYS = "document.scrollingElement.scrollWidth - window.innerWidth"
# How far the page's content sticks out of <main> (a table wider than its card does).
OUT_OF_MAIN = "(m => m.scrollWidth - m.clientWidth)(document.querySelector('main'))"


def _folder(width: int):  # type: ignore[no-untyped-def]
    folder = ARTIFACTS / str(width)
    shutil.rmtree(folder, ignore_errors=True)  # this run's pages only
    folder.mkdir(parents=True)
    return folder


def _context(browser, live_server, width: int, user: Any = None):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url,
                                  viewport={"width": width, "height": 900 if width > 800 else 844},
                                  device_scale_factor=1)
    context.set_default_timeout(15000)
    context.add_init_script(CSP_PROBE)
    if user is not None:
        from django.test import Client

        client = Client()
        client.force_login(user)
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                              "url": live_server.url}])
    return context


def _pages(s: Seed) -> PageList:
    pages = classify(s)
    print("pages:", [n for n, *_ in pages.signed_in], [n for n, *_ in pages.signed_out],
          "not pages:", pages.other)
    names = {name for name, *_ in pages.signed_in}
    # A guard on the walker: the pages the issue names are among those visited.
    for expected in ["apps", "apps-app_id", "calls", "credits", "catalog", "catalog-new",
                     "integrations-new", "integrations-imports-import_id-operations",
                     "custom-apis", "secrets",
                     "tokens", "notifications", "catalog-review", "catalog-review-revision_id",
                     "members", "settings", "connectors-connector_id", "workspaces"]:
        assert expected in names, (expected, sorted(names))
    assert {name for name, *_ in pages.signed_out} >= {"login", "signup", "reset-uidb64-token"}
    pages.signed_in += [("403-not-allowed", s.forbidden, 403),
                        ("403-plan-required", s.plan_required, 403),
                        ("404-not-found", "/w/zz9/apps/", 404)]
    return pages


def _open(page, path: str, expected: int = 200) -> None:  # type: ignore[no-untyped-def]
    response = page.goto(path)
    assert response is not None
    assert response.status == expected, (path, response.status)
    page.wait_for_load_state("load")
    events = page.evaluate("window.__csp || []")
    assert not events, (path, events)


def _to_configure(page, s: Seed) -> None:  # type: ignore[no-untyped-def]
    w, imp = s.ids["workspace_id"], s.ids["import_id"]
    _open(page, f"/w/{w}/integrations/imports/{imp}/operations/")
    page.check("input[name=op][value='get:/pets']")
    page.get_by_test_id("operations-continue").click()
    page.wait_for_url(re.compile(r"/configure/$"))


def test_every_page_at_1440_has_no_serious_accessibility_violation_and_is_photographed(
        browser, live_server):
    s = seed()
    pages = _pages(s)
    folder = _folder(1440)
    source = axe_source()
    found: dict[str, Any] = {}
    for user, listing in [(s.owner, pages.signed_in), (None, pages.signed_out)]:
        context = _context(browser, live_server, 1440, user)
        context.add_init_script(source)
        page = context.new_page()
        for name, path, status in listing:
            _open(page, path, status)
            violations = page.evaluate(AXE_RUN)
            if page.evaluate(OUT_OF_MAIN) > 0:
                violations.append({"id": "wider-than-main", "impact": "layout", "count": 1,
                                   "help": f"{page.evaluate(OUT_OF_MAIN)} px out of <main>",
                                   "nodes": []})
            if violations:
                found[f"{name} ({path})"] = violations
            page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        if user is not None:
            # The Configure step opens from the Operations step (the selection is POSTed).
            _to_configure(page, s)
            violations = page.evaluate(AXE_RUN)
            if violations:
                found["configure step"] = violations
            page.screenshot(path=str(folder / "integrations-imports-import_id-configure.png"),
                            full_page=True)
        context.close()
    # The whole report, for a reviewer; the failure lists one line per rule and page.
    (ARTIFACTS / "axe-1440.json").write_text(json.dumps(found, indent=1))
    assert not found, "\n".join(f"{where}: {v['impact']} {v['id']} x{v['count']} ({v['help']}): "
                                 f"{', '.join(v['nodes'])}"
                                 for where, vs in found.items() for v in vs)
    shots = sorted(p.name for p in folder.glob("*.png"))
    assert len(shots) == len(pages.signed_in) + len(pages.signed_out) + 1, shots


def test_at_390_the_navigation_collapses_and_no_page_scrolls_sideways(browser, live_server):
    s = seed()
    pages = _pages(s)
    folder = _folder(390)
    source = axe_source()
    wide: dict[str, int] = {}
    found: dict[str, Any] = {}
    for user, listing in [(s.owner, pages.signed_in), (None, pages.signed_out)]:
        context = _context(browser, live_server, 390, user)
        context.add_init_script(source)
        page = context.new_page()
        for name, path, status in listing:
            _open(page, path, status)
            # the narrow layout too: code blocks that scroll must be reachable by keyboard
            violations = page.evaluate(AXE_RUN)
            if violations:
                found[f"{name} ({path})"] = violations
            if user is not None:
                # Collapsed: the sidebar and the account links are hidden behind "Menu".
                assert page.get_by_role("button", name="Menu").is_visible(), path
                assert page.locator("#site-nav").is_hidden(), path
                assert page.locator("#account-nav").is_hidden(), path
            overflow = page.evaluate(SIDEWAYS)
            if overflow > 0:
                wide[f"{name} ({path})"] = overflow
            page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        if user is not None:
            _to_configure(page, s)
            if page.evaluate(SIDEWAYS) > 0:
                wide["configure step"] = page.evaluate(SIDEWAYS)
            page.screenshot(path=str(folder / "integrations-imports-import_id-configure.png"),
                            full_page=True)
        context.close()
    assert not wide, f"pages wider than 390 px (by px): {wide}"
    (ARTIFACTS / "axe-390.json").write_text(json.dumps(found, indent=1))
    assert not found, "\n".join(f"{where}: {v['impact']} {v['id']} x{v['count']} ({v['help']}): "
                                 f"{', '.join(v['nodes'])}"
                                 for where, vs in found.items() for v in vs)

    # The Menu button opens the navigation, and it works there.
    context = _context(browser, live_server, 390, s.owner)
    page = context.new_page()
    _open(page, f"/w/{s.ids['workspace_id']}/apps/")
    menu = page.get_by_role("button", name="Menu")
    assert menu.get_attribute("aria-expanded") == "false"
    menu.click()
    assert menu.get_attribute("aria-expanded") == "true"
    nav = page.locator("#site-nav")
    assert nav.is_visible()
    assert page.locator("#account-nav").get_by_role("link", name="Access tokens").is_visible()
    page.keyboard.press("Escape")  # closes it, focus back on the button
    assert nav.is_hidden() and menu.get_attribute("aria-expanded") == "false"
    assert page.evaluate("document.activeElement.hasAttribute('data-nav-toggle')")
    menu.click()
    nav.get_by_role("link", name="Credits").click()
    page.wait_for_url(re.compile(r"/credits/$"))
    assert page.locator("#site-nav").is_hidden()
    assert page.evaluate(SIDEWAYS) <= 0
    context.close()


def test_a_code_block_that_scrolls_is_reached_and_scrolled_from_the_keyboard(browser,
                                                                            live_server):
    s = seed()
    context = _context(browser, live_server, 390, s.owner)
    page = context.new_page()
    _open(page, f"/w/{s.ids['workspace_id']}/apps/{s.ids['app_id']}/")
    snippet = page.locator("main pre").first  # the SDK snippet: too wide for a phone
    assert snippet.evaluate("el => el.scrollWidth > el.clientWidth")
    assert snippet.get_attribute("tabindex") == "0"
    snippet.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('main pre').scrollLeft > 0")
    # wide enough for it: no extra tab stop
    page.set_viewport_size({"width": 1920, "height": 900})
    page.wait_for_function("() => !document.querySelector('main pre').hasAttribute('tabindex')"
                           " || document.querySelector('main pre').scrollWidth >"
                           " document.querySelector('main pre').clientWidth")
    context.close()


def test_the_wizard_is_usable_at_390(browser, live_server):
    from integrations.models import WorkspaceIntegration
    from tests.factories import UserFactory, shared_workspace
    from tests.integrations.wizard_support import PETSTORE_30

    owner = UserFactory(email="phone-owner@example.com")
    ws = shared_workspace(owner, "Pocket Co", plan="builder")
    context = _context(browser, live_server, 390, owner)
    page = context.new_page()

    def no_sideways(where: str) -> None:
        assert page.evaluate(SIDEWAYS) <= 0, (where, page.evaluate(SIDEWAYS))

    _open(page, f"/w/{ws.public_id}/integrations/new/")
    no_sideways("step 1")
    page.check("input[name=source][value=paste]")
    page.fill("#id_spec", PETSTORE_30.read_text())
    page.click("button:has-text('Continue')")
    page.get_by_test_id("import-ready").wait_for()
    no_sideways("import ready")
    page.get_by_test_id("continue").click()
    page.wait_for_url(re.compile(r"/operations/$"))
    no_sideways("step 2")
    page.check("input[name=op][value='get:/pets']")
    page.get_by_test_id("operations-continue").click()
    page.wait_for_url(re.compile(r"/configure/$"))
    no_sideways("step 3")
    page.fill("#id_slug", "pocket-pets")
    page.fill("#id_base_url", "https://petstore.example.com/v1")
    page.get_by_role("button", name=re.compile("Create integration")).click()
    page.wait_for_url(re.compile(r"/integrations/[0-9a-f]{24}/$"))
    no_sideways("the new integration")
    assert WorkspaceIntegration.objects.filter(workspace=ws, slug="pocket-pets").exists()
    context.close()


def test_copy_buttons_put_the_value_on_the_clipboard_and_keyboard_users_skip_the_nav(
        browser, live_server, personas):
    context = _context(browser, live_server, 1440, personas.owner)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    ws, app = personas.workspace.public_id, personas.app.public_id
    _open(page, f"/w/{ws}/apps/{app}/")
    # The first Tab reaches the skip link; Enter moves focus into the page's content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    button = page.get_by_role("button", name="Copy the app id")
    button.click()
    assert page.evaluate("navigator.clipboard.readText()") == app
    assert button.inner_text() == "Copied"
    # Every code block (the SDK snippet here) gets its own Copy button.
    snippet = page.locator(".copy-wrap").filter(has_text="createClient").first
    snippet.get_by_role("button", name="Copy this code").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "createClient" in copied and app in copied
    context.close()
