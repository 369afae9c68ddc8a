from __future__ import annotations

import re

import pytest

from workspaces.models import App, AppServiceToken, Workspace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_up_workspace_app_and_token_shown_once(page):
    page.goto("/signup/")
    page.fill("#id_name", "Grace Hopper")
    page.fill("#id_email", "grace@example.com")
    page.fill("#id_password", "cobol-is-forever-1959")
    page.click("button:has-text('Create account')")
    page.wait_for_url(re.compile(r"/w/[0-9a-f]{24}/apps/$"))
    assert "Welcome to Switchboard" in page.content()

    page.goto("/workspaces/")
    page.fill("#id_name", "Compilers Inc")
    page.click("button:has-text('Create workspace')")
    page.wait_for_url(re.compile(r"/w/[0-9a-f]{24}/apps/$"))
    ws = Workspace.objects.get(name="Compilers Inc")
    assert ws.kind == "shared"
    assert page.locator(".ws-name").inner_text().startswith("Compilers Inc")

    page.fill("#id_name", "Flight Tracker")
    page.click("button:has-text('Create app')")
    page.wait_for_url(re.compile(r"/apps/[0-9a-f]{24}/$"))
    app = App.objects.get(name="Flight Tracker", workspace=ws)
    assert page.get_by_test_id("app-id").inner_text() == app.public_id

    page.fill("#id_name", "backend")
    page.click("button:has-text('Create service token')")
    shown = page.locator("#new-token-value").inner_text()
    assert shown.startswith("sbs_")
    row = AppServiceToken.objects.get(app=app)
    assert row.prefix in shown and shown not in row.digest

    page.reload()
    assert page.locator("[data-testid=new-token]").count() == 0
    assert shown not in page.content()
    assert "backend" in page.get_by_test_id("service-tokens").inner_text()


def test_failed_form_keeps_input_in_browser(page):
    page.goto("/signup/")
    page.fill("#id_name", "Short Pass")
    page.fill("#id_email", "short@example.com")
    page.fill("#id_password", "abc")
    page.click("button:has-text('Create account')")
    assert page.input_value("#id_email") == "short@example.com"
    assert page.input_value("#id_name") == "Short Pass"
    assert page.input_value("#id_password") == ""
    assert "too short" in page.content()


def test_personal_token_shown_once(page, django_user_model):
    from workspaces import services

    services.sign_up(email="pat@example.com", password="cobol-is-forever-1959")
    page.goto("/login/")
    page.fill("#id_username", "pat@example.com")
    page.fill("#id_password", "cobol-is-forever-1959")
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/apps/$"))
    page.goto("/tokens/")
    page.fill("#id_name", "ci")
    page.click("button:has-text('Create token')")
    token = page.locator("[data-testid=new-token] code").inner_text()
    assert token.startswith("sbp_")
    page.reload()
    assert token not in page.content()
