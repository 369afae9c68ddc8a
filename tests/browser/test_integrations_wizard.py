"""The integration wizard in real Chromium: paste the petstore spec, search, select, configure
with a sensitive header, create, see the card; the progress page updating by itself; the
30-operation limit in the page."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from tests.factories import PASSWORD
from tests.integrations.wizard_support import PETSTORE_30, generated_spec

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_until(page, expression: str, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    """page.wait_for_function, polled from here: Playwright runs that predicate through eval,
    which the Content-Security-Policy (no 'unsafe-eval') refuses; page.evaluate is not eval."""
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(50)


def sign_in(page, email: str) -> None:  # type: ignore[no-untyped-def]
    page.context.clear_cookies()
    page.goto("/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/(apps|workspaces)/$"))


@pytest.fixture
def team():  # type: ignore[no-untyped-def]
    from tests.factories import UserFactory, shared_workspace

    owner = UserFactory(email="builder@example.com")
    return owner, shared_workspace(owner, "Rocket Co", plan="builder")


def test_three_step_wizard(page, team):
    from integrations import services
    from integrations.models import WorkspaceIntegration

    owner, ws = team
    secret_value = f"CANARY-{uuid.uuid4().hex}"
    sign_in(page, owner.email)
    page.goto(f"/w/{ws.public_id}/apps/")
    page.click(".sidebar >> text=Integrations")
    page.get_by_test_id("add-integration").click()
    page.wait_for_url(re.compile(r"/integrations/new/$"))  # loaded, wizard.js included

    # Step 1: paste the spec
    page.check("input[name=source][value=paste]")
    page.locator("#id_url").wait_for(state="hidden")
    page.fill("#id_spec", PETSTORE_30.read_text())
    page.click("button:has-text('Continue')")
    page.get_by_test_id("import-ready").wait_for()
    assert "3 operations" in page.get_by_test_id("found-operations").inner_text()
    page.get_by_test_id("continue").click()
    page.wait_for_url(re.compile(r"/operations/$"))

    # Step 2: search as you type, select
    rows = page.locator("#op-table tbody tr")
    assert rows.count() == 3
    page.fill("#op-search", "petid")
    wait_until(page, "document.querySelectorAll('#op-table tbody tr:not([hidden])')"
                      ".length === 1")
    assert "showPetById" in page.locator("#op-table tbody tr:not([hidden])").inner_text()
    page.check("#op-table tbody tr:not([hidden]) input[name=op]")
    page.fill("#op-search", "")
    page.check("input[name=op][value='get:/pets']")
    assert page.inner_text("#op-selected") == "2"
    page.get_by_test_id("operations-continue").click()

    # Step 3: configure, with a sensitive header
    page.wait_for_url(re.compile(r"/configure/$"))
    assert page.input_value("#id_slug") == "swagger-petstore"
    assert page.input_value("#id_base_url") == "http://petstore.swagger.io/v1"
    selected = page.get_by_test_id("selected-operations").inner_text()
    assert "/pets/{petId}" in selected and "GET" in selected
    page.fill("#id_slug", "pets")
    page.fill("#id_name", "Pet Store")
    page.fill("#id_base_url", "https://petstore.example.com/v1")
    first = page.locator(".header-row").nth(0)
    first.locator(".header-name").fill("X-Api-Key")
    assert first.locator(".header-value").get_attribute("type") == "password"
    assert first.locator(".sensitive-badge").is_visible()
    first.locator(".header-value").fill(secret_value)
    first.locator(".toggle-value").click()
    assert first.locator(".header-value").get_attribute("type") == "text"
    first.locator(".toggle-value").click()
    page.get_by_test_id("add-header").click()
    second = page.locator(".header-row").nth(1)
    second.locator(".header-name").fill("X-Tenant")
    assert second.locator(".sensitive-badge").is_hidden()
    second.locator(".header-value").fill("rocket")
    page.get_by_test_id("save-integration").click()

    # Details, then the card
    page.wait_for_url(re.compile(r"/integrations/[0-9a-f]{24}/$"))
    assert "Pet Store" in page.content()
    assert 'custom.call("pets", "get:/pets/{petId}"' in page.locator(".operation").nth(1) \
        .inner_text()
    integration = WorkspaceIntegration.objects.get(workspace=ws)
    assert services.integration_headers(integration) == {"X-Api-Key": secret_value,
                                                         "X-Tenant": "rocket"}
    page.click(".crumbs >> text=Integrations")
    card = page.get_by_test_id("integration-card")
    card.wait_for()
    text = card.inner_text()
    assert "Pet Store" in text and "pets" in text and "petstore.example.com/v1" in text
    assert "2 operations" in text and "never" in text
    assert secret_value not in page.content()

    # Edit: the sensitive value is never sent back
    card.locator("summary").click()
    card.locator("text=Edit").click()
    page.get_by_test_id("sensitive-mask").wait_for()
    assert "sensitive – delete to change" in page.get_by_test_id("sensitive-mask").inner_text()
    assert secret_value not in page.content()
    page.fill("#id_name", "Pet Store (prod)")
    page.get_by_test_id("save-integration").click()
    page.wait_for_url(re.compile(r"/integrations/[0-9a-f]{24}/$"))
    integration.refresh_from_db()
    assert integration.name == "Pet Store (prod)"
    assert services.integration_headers(integration)["X-Api-Key"] == secret_value


def test_progress_page_updates_by_itself(page, team):
    from integrations.models import SpecImport

    owner, ws = team
    spec_import = SpecImport.objects.create(workspace=ws, source="url",
                                            source_url="https://specs.example.com/o.json")
    sign_in(page, owner.email)
    page.goto(f"/w/{ws.public_id}/integrations/imports/{spec_import.public_id}/")
    page.get_by_test_id("import-progress").wait_for()
    SpecImport.objects.filter(pk=spec_import.pk).update(status="running", stage="validating")
    wait_until(page, "document.getElementById('import-stage') && "
                      "document.getElementById('import-stage').textContent === "
                      "'Validating the spec'")
    SpecImport.objects.filter(pk=spec_import.pk).update(
        status="failed", error_code="needs_auth",
        error_message="The server needs authentication to send the spec (HTTP 401).")
    page.get_by_test_id("import-error").wait_for(timeout=10000)  # no manual reload
    assert "HTTP 401" in page.get_by_test_id("import-error").inner_text()


def test_thirty_operations_in_the_page(page, team, django_capture_on_commit_callbacks):
    from integrations import services

    owner, ws = team
    spec_import = services.import_pasted(ws, actor=owner, text=json.dumps(generated_spec(40)))
    services.run_import(spec_import.pk)
    sign_in(page, owner.email)
    page.goto(f"/w/{ws.public_id}/integrations/imports/{spec_import.public_id}/operations/")
    boxes = page.locator("input[name=op]")
    for i in range(30):
        boxes.nth(i).check()
    assert page.inner_text("#op-selected") == "30"
    assert boxes.nth(30).is_disabled()
    page.get_by_test_id("operations-continue").click()
    page.wait_for_url(re.compile(r"/configure/$"))
    assert page.get_by_test_id("selected-operations").locator("li").count() == 30


def test_a_big_paste_travels_as_a_file(page, team):
    """Form fields are capped at 2.5 MB by Django; the page sends a big paste as an upload."""
    from integrations.models import SpecImport

    owner, ws = team
    spec = json.loads(json.dumps(generated_spec(3)))
    spec["info"]["description"] = "x" * (3 * 1024 * 1024)
    sign_in(page, owner.email)
    page.goto(f"/w/{ws.public_id}/integrations/new/")
    page.check("input[name=source][value=paste]")
    page.fill("#id_spec", json.dumps(spec))
    page.click("button:has-text('Continue')")
    page.get_by_test_id("import-ready").wait_for()
    assert SpecImport.objects.get(workspace=ws).size_bytes > 3 * 1024 * 1024


def test_search_as_you_type_in_a_thousand_operations(page, team):
    from integrations import services

    owner, ws = team
    spec_import = services.import_pasted(ws, actor=owner,
                                         text=json.dumps(generated_spec(1000)))
    services.run_import(spec_import.pk)
    sign_in(page, owner.email)
    page.goto(f"/w/{ws.public_id}/integrations/imports/{spec_import.public_id}/operations/")
    assert page.locator("#op-table tbody tr").count() == 1000
    visible = "document.querySelectorAll('#op-table tbody tr:not([hidden])').length === {}"
    for words, count in [("group42", 10),            # a tag
                         ("GETITEMS999", 1),         # an operationId, any case
                         ("get /items/12", 11),      # method and path: /items/12, /items/120-129
                         ("read number 999", 1),     # summary words, each anywhere
                         ("", 1000)]:
        page.fill("#op-search", words)
        wait_until(page, visible.format(count))
    page.fill("#op-search", "no such operation")
    wait_until(page, visible.format(0))
    assert page.locator("#op-none").is_visible()
    # a box checked while filtered stays checked once the filter is cleared
    page.fill("#op-search", "getitems999")
    wait_until(page, visible.format(1))
    page.check("#op-table tbody tr:not([hidden]) input[name=op]")
    page.fill("#op-search", "")
    wait_until(page, visible.format(1000))
    assert page.is_checked("input[name=op][value='get:/items/999']")
    assert page.inner_text("#op-selected") == "1"
