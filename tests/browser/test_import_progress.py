"""Long imports don't freeze the page (issue 14 §4.2, issue 13 §3) in real Chromium, with
eager tasks as under `make run` (a thread after the response): the operation list appears as
soon as the spec is parsed, Continue stays disabled while validation runs, the selection made
meanwhile survives, and validation's warnings appear without a reload."""

from __future__ import annotations

import re
import threading
import time

import pytest

from tests.factories import PASSWORD
from tests.integrations.wizard_support import PETSTORE_30

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_until(page, expression: str, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(50)


def test_operation_list_first_continue_disabled_until_validated(page, settings, monkeypatch):
    from integrations import services
    from tests.factories import UserFactory, shared_workspace

    owner = UserFactory(email="slow@example.com")
    ws = shared_workspace(owner, "Slow Co", plan="builder")
    settings.INTEGRATIONS_IMPORT_MODE = "thread"  # what `make run` does with eager tasks
    release = threading.Event()

    def slow_findings(doc):  # type: ignore[no-untyped-def]
        assert release.wait(30)
        return [{"message": "Response 200 has no schema", "location": "/paths/~1pets/get",
                 "code": "w"}]

    monkeypatch.setattr(services, "_findings", slow_findings)
    page.goto("/login/")
    page.fill("#id_username", owner.email)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/(apps|workspaces)/$"))
    page.goto(f"/w/{ws.public_id}/integrations/new/")
    page.check("input[name=source][value=paste]")
    page.fill("#id_spec", PETSTORE_30.read_text())
    page.get_by_test_id("spec-continue").click()

    # the import page: the stage while it waits, then the operation list, still validating
    page.wait_for_url(re.compile(r"/imports/[0-9a-f]{24}/$"))
    page.get_by_test_id("import-parsed").wait_for()
    assert page.locator("#op-table tbody tr").count() == 3
    progress = page.get_by_test_id("import-progress")
    assert progress.is_visible() and "Validating the spec" in progress.inner_text()
    continue_button = page.get_by_test_id("continue")
    assert continue_button.is_disabled()
    page.check("input[name=op][value='get:/pets']")
    assert page.inner_text("#op-selected") == "1"
    page.wait_for_timeout(1500)  # a few polls: still running, nothing reloaded
    assert continue_button.is_disabled()
    assert page.is_checked("input[name=op][value='get:/pets']")

    release.set()  # validation ends: warnings appear, Continue is enabled, in place
    page.get_by_test_id("import-warnings").wait_for()
    assert "Response 200 has no schema" in page.get_by_test_id("import-warnings").inner_text()
    wait_until(page, "!document.getElementById('import-continue').disabled")
    assert page.is_checked("input[name=op][value='get:/pets']")  # the selection stayed
    assert progress.is_hidden()
    assert continue_button.inner_text() == "Accept the warnings and continue"
    continue_button.click()
    page.wait_for_url(re.compile(r"/configure/$"))
    assert "/pets" in page.get_by_test_id("selected-operations").inner_text()


def test_step_one_continue_is_disabled_once_sent(page, settings, monkeypatch):
    """The POST itself takes a moment for a big upload: the button can't be pressed twice."""
    from integrations import views
    from tests.factories import UserFactory, shared_workspace

    owner = UserFactory(email="busy@example.com")
    ws = shared_workspace(owner, "Busy Co", plan="builder")
    settings.INTEGRATIONS_IMPORT_MODE = "thread"
    real = views.uploads.save_text

    def slow_save(public_id, text):  # type: ignore[no-untyped-def]
        time.sleep(1.5)  # the request is still on its way
        return real(public_id, text)

    monkeypatch.setattr(views.uploads, "save_text", slow_save)
    page.goto("/login/")
    page.fill("#id_username", owner.email)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/(apps|workspaces)/$"))
    page.goto(f"/w/{ws.public_id}/integrations/new/")
    page.check("input[name=source][value=paste]")
    page.fill("#id_spec", PETSTORE_30.read_text())
    # what the page looks like while the request is on its way, read after it arrived
    page.evaluate("""document.getElementById('spec-form').addEventListener('submit', () =>
      setTimeout(() => sessionStorage.setItem('probe', JSON.stringify({
        disabled: document.getElementById('spec-continue').disabled,
        busy: !document.getElementById('spec-busy').hidden})), 300))""")
    page.get_by_test_id("spec-continue").click()
    page.wait_for_url(re.compile(r"/imports/[0-9a-f]{24}/$"))
    assert page.evaluate("JSON.parse(sessionStorage.getItem('probe'))") == {
        "disabled": True, "busy": True}
    page.get_by_test_id("import-ready").wait_for()  # the import thread is done
