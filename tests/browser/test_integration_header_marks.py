"""The Configure form's "Sensitive" checkbox per header row and the origin-move refusal, in
real Chromium: known names tick (and lock) the box themselves, any other header can be ticked,
a stored secret can't be un-ticked, and moving the base URL asks for the stored values again."""

from __future__ import annotations

import re
import uuid

import pytest
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sensitive_marks_and_the_origin_move(page):
    from integrations import services
    from integrations.services import HeaderInput
    from tests.factories import UserFactory, shared_workspace
    from tests.integrations.wizard_support import make_integration

    owner = UserFactory(email="marks@example.com")
    ws = shared_workspace(owner, "Marks Co", plan="builder")
    key, custom = f"CANARY-{uuid.uuid4().hex}", f"CANARY-{uuid.uuid4().hex}"
    integration = make_integration(ws, owner, headers=[HeaderInput("X-Api-Key", key),
                                                       HeaderInput("X-Tenant", "acme")])
    page.goto("/login/")
    page.fill("#id_username", owner.email)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/(apps|workspaces)/$"))
    edit = reverse("integration-edit", args=[ws.public_id, integration.public_id])
    page.goto(edit)

    rows = page.locator(".header-row")
    stored, tenant = rows.nth(0), rows.nth(1)
    assert stored.get_by_test_id("sensitive-mask").is_visible()
    assert stored.locator(".header-sensitive").is_checked()
    assert stored.locator(".header-sensitive").is_disabled()
    # a plain header can be ticked: its value input hides, the badge shows
    assert not tenant.locator(".header-sensitive").is_checked()
    assert tenant.locator(".header-value").get_attribute("type") == "text"
    tenant.locator(".header-sensitive").check()
    assert tenant.locator(".header-value").get_attribute("type") == "password"
    assert tenant.locator(".sensitive-badge").is_visible()
    tenant.locator(".header-sensitive").uncheck()
    assert tenant.locator(".sensitive-badge").is_hidden()
    # a known name ticks and locks the box; another name frees it again
    page.get_by_test_id("add-header").click()
    added = rows.nth(2)
    added.locator(".header-name").fill("X-Auth-Key")
    assert added.locator(".header-sensitive").is_checked()
    assert added.locator(".header-sensitive").is_disabled()
    added.locator(".header-name").fill("X-Custom-Id")
    assert not added.locator(".header-sensitive").is_checked()
    assert added.locator(".header-sensitive").is_enabled()
    added.locator(".header-sensitive").check()
    added.locator(".header-value").fill(custom)
    page.get_by_test_id("save-integration").click()
    page.wait_for_url(re.compile(r"/integrations/[0-9a-f]{24}/$"))
    headers = {h.name: h.sensitive for h in integration.headers.all()}
    assert headers == {"X-Api-Key": True, "X-Tenant": False, "X-Custom-Id": True}
    assert services.integration_headers(integration)["X-Custom-Id"] == custom

    # moving the base URL to another server: refused, and the rows ask for the values
    page.goto(edit)
    assert page.get_by_test_id("sensitive-mask").count() == 2
    page.fill("#id_base_url", "https://other.example.com/v1")
    page.get_by_test_id("save-integration").click()
    page.get_by_test_id("reenter").first.wait_for()
    text = page.content()
    assert "moves to a different server (other.example.com)" in text
    assert key not in text and custom not in text
    assert page.input_value("#id_base_url") == "https://other.example.com/v1"
    assert page.get_by_test_id("reenter").count() == 2
    new_key, new_custom = f"CANARY-{uuid.uuid4().hex}", f"CANARY-{uuid.uuid4().hex}"
    again = page.locator(".header-row.reenter")
    again.nth(0).locator(".header-value").fill(new_key)
    again.nth(1).locator(".header-value").fill(new_custom)
    page.get_by_test_id("save-integration").click()
    page.wait_for_url(re.compile(r"/integrations/[0-9a-f]{24}/$"))
    integration.refresh_from_db()
    assert integration.base_url == "https://other.example.com/v1"
    assert services.integration_headers(integration) == {
        "X-Api-Key": new_key, "X-Tenant": "acme", "X-Custom-Id": new_custom}
