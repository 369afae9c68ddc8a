"""In real Chromium: an admin renames an app, then finds the change on the Audit page through
the sidebar, filters it, follows the link to the app and exports the CSV; a member has no
Audit link and is refused the page."""

from __future__ import annotations

import re

import pytest

from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, email: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/w/"))


def test_admin_finds_a_change_on_the_audit_page(page, personas):
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text)
            if m.type == "error" or "Content Security" in m.text else None)
    ws, app = personas.workspace, personas.app
    _sign_in(page, personas.admin.email)
    page.goto(f"/w/{ws.public_id}/apps/{app.public_id}/")
    settings_form = page.locator("form:has(input[name=action][value=update])")
    settings_form.locator("input[name=name]").fill("Storefront EU")
    settings_form.locator("button[type=submit]").first.click()
    page.wait_for_load_state()

    page.click("[data-testid=nav-audit]")
    page.wait_for_url(re.compile(r"/audit/$"))
    first = page.locator("[data-testid=audit-row]").first
    assert "app.update" in first.inner_text()
    assert "Storefront → Storefront EU" in first.inner_text()
    assert "admin@example.com" in first.inner_text()

    page.select_option("#id_action", "workspace.")
    page.click("[data-testid=audit-filters] button[type=submit]")
    page.wait_for_url(re.compile(r"action=workspace"))
    table = page.inner_text("[data-testid=audit-table]")
    assert "workspace.create" in table and "app.update" not in table
    page.click("text=Reset")
    page.wait_for_url(re.compile(r"/audit/$"))

    with page.expect_download() as download:
        page.click("[data-testid=audit-csv]")
    text = open(download.value.path(), encoding="utf-8").read()
    assert text.startswith("time,actor_kind,actor,action") and "Storefront EU" in text

    page.locator("[data-testid=audit-row]").first.locator("a").first.click()
    page.wait_for_url(re.compile(rf"/apps/{app.public_id}/$"))
    assert not problems, problems


def test_a_member_has_no_audit_link_and_is_refused(page, personas):
    _sign_in(page, personas.member.email)
    page.goto(f"/w/{personas.workspace.public_id}/apps/")
    assert page.locator("[data-testid=nav-audit]").count() == 0
    response = page.goto(f"/w/{personas.workspace.public_id}/audit/")
    assert response is not None and response.status == 403
