"""The catalog in real Chromium: create with live checks, submit, review as a reviewer, approve,
see the credits; and a canary that injected script in a prompt never runs."""

from __future__ import annotations

import re

import pytest

from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, email: str) -> None:  # type: ignore[no-untyped-def]
    page.context.clear_cookies()
    page.goto("/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/(apps|workspaces)/$"))


@pytest.fixture
def people():  # type: ignore[no-untyped-def]
    from tests.factories import UserFactory, shared_workspace

    author = UserFactory(email="author@example.com")
    reviewer = UserFactory(email="reviewer@example.com", is_staff=True)
    ws = shared_workspace(author, "Pixel Works")
    return author, reviewer, ws


def test_create_submit_review_approve_and_see_the_credits(page, people):
    from catalog.models import CatalogIntegration

    author, reviewer, ws = people
    sign_in(page, author.email)
    page.goto(f"/w/{ws.public_id}/catalog/")
    page.click("text=New integration")
    page.click("[data-testid=openai-example]")
    checks = page.get_by_test_id("prompt-checks")
    checks.get_by_text("All checks pass.").wait_for()

    # Live checks: forget to declare the secret -> errors appear as we type
    page.fill("#id_secrets-0-name", "")
    checks.get_by_text("listed in Environment Variables but is not declared").wait_for()
    assert page.get_attribute("#prompt-checks", "data-state") == "errors"
    page.click("#secrets-from-prompt")  # copy it back from the prompt's JSON block
    checks.get_by_text("All checks pass.").wait_for()
    assert page.input_value("#id_secrets-0-name") == "OPENAI_API_KEY"

    page.fill("#id_name", "Pixel Painter")
    page.fill("#id_slug", "pixel-painter")
    assert page.is_hidden("[data-testid=save-and-submit]")
    page.check("input[name=visibility][value=public]")
    page.click("[data-testid=save-and-submit]")
    page.wait_for_url(re.compile(r"/catalog/[0-9a-f]{24}/$"))
    assert "Submitted for review" in page.content()
    integration = CatalogIntegration.objects.get(slug="pixel-painter")
    assert integration.state == "submitted"

    sign_in(page, reviewer.email)
    page.click("text=Review queue")
    page.click("[data-testid=review-queue] >> text=Pixel Painter")
    assert "api.openai.com" in page.get_by_test_id("rendered-prompt").inner_text()
    page.check("input[name=decision][value=approve]")
    page.fill("#id_comment", "Clear prompt, thanks!")
    page.click("[data-testid=decide]")
    page.wait_for_url(re.compile(r"/catalog/review/$"))
    assert "approved" in page.content()

    sign_in(page, author.email)
    assert page.get_by_test_id("unread-count").inner_text() == "1"
    page.goto(f"/w/{ws.public_id}/credits/")
    assert page.get_by_test_id("balance").inner_text() == "2,250"
    page.click("text=Catalog integration “Pixel Painter” approved")
    page.wait_for_url(f"**/w/{ws.public_id}/catalog/{integration.public_id}/")
    assert page.get_by_test_id("integration-name").inner_text() == "Pixel Painter"
    assert page.get_by_test_id("state").text_content() == "Approved"
    page.goto(f"/w/{ws.public_id}/catalog/")
    assert "Pixel Painter" in page.get_by_test_id("catalog-list").inner_text()


def test_injected_script_in_a_prompt_never_runs(page, people):
    from tests.catalog.conftest import make_integration

    author, reviewer, ws = people
    evil = make_integration(ws, author, visibility="public", prompt=(
        "# Evil\n<script>window.__pwned = 'script'</script>\n"
        "<img src=\"x\" onerror=\"window.__pwned = 'img'\">\n"
        "[click me](javascript:window.__pwned='link')\n"
        "<svg onload=\"window.__pwned = 'svg'\"></svg>\n"))
    sign_in(page, author.email)
    page.goto(f"/w/{ws.public_id}/catalog/{evil.public_id}/")
    page.wait_for_load_state("load")
    page.get_by_text("click me").click()
    page.wait_for_timeout(300)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("[data-testid=rendered-prompt] script").count() == 0


def test_a_teammate_uses_a_private_integration_in_an_app(page, people):
    """The private catalog in Chromium: a teammate picks an app, types the key (a password
    field), and the app's integrations page shows it set, never its value."""
    from catalog.models import Installation
    from secrets_vault import services as vault
    from tests.catalog.conftest import make_integration
    from tests.factories import UserFactory, add_member, make_app
    from workspaces.models import Role

    author, _, ws = people
    admin = UserFactory(email="teammate@example.com")
    add_member(ws, admin, Role.ADMIN)
    app = make_app(ws, author, "Gallery")
    integration = make_integration(ws, author, visibility="private", name="Pixel Painter",
                                   slug="pixel-painter")
    canary = "sk-browser-CANARY-42"
    sign_in(page, admin.email)
    page.goto(f"/w/{ws.public_id}/catalog/?tab=private")
    page.click("[data-testid=catalog-list] >> text=Pixel Painter")
    page.click("[data-testid=use-integration]")
    page.select_option("select[name=app]", label="Gallery")  # submits the choice on change
    page.wait_for_url(re.compile(r"\?app=[0-9a-f]{24}$"))
    assert page.get_attribute("input[name=value__OPENAI_API_KEY]", "type") == "password"
    page.fill("input[name=value__OPENAI_API_KEY]", canary)
    page.click("[data-testid=install]")
    page.wait_for_url(f"**/w/{ws.public_id}/apps/{app.public_id}/integrations/")
    section = page.get_by_test_id("installed-pixel-painter")
    assert section.get_by_test_id("secret-status").inner_text() == "set"
    assert canary not in page.content()
    assert Installation.objects.filter(app=app, integration=integration).exists()
    secret = vault.get_secret(ws, "OPENAI_API_KEY", app=app)
    assert vault.reveal(secret) == canary
