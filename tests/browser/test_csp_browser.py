"""Content-Security-Policy in real Chromium (security issue 12, LOW): the dashboard, the Django
admin and the Swagger UI run under the policy (no violation reported), and the JavaScript moved
out of the templates still works. The header and template checks are in tests/test_csp.py."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CSP_PROBE = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(
    `${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`);
});
"""


class Watched:
    """A page that records every CSP violation (DOM event and console message)."""

    def __init__(self, page) -> None:  # type: ignore[no-untyped-def]
        self.page = page
        self.console: list[str] = []
        page.on("console", lambda msg: self.console.append(msg.text)
                if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text
                else None)
        page.on("pageerror", lambda exc: self.console.append(f"page error: {exc}"))

    def visit(self, path: str) -> None:
        response = self.page.goto(path)
        assert response is not None and response.status < 400, (path, response and response.status)
        assert "Content-Security-Policy" in response.headers or \
            "content-security-policy" in response.headers, path
        self.page.wait_for_load_state("load")
        self.assert_clean(path)

    def assert_clean(self, where: str) -> None:
        events = self.page.evaluate("window.__csp || []")
        assert not events and not self.console, (where, events, self.console)


@pytest.fixture
def watched(browser, live_server):  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15000)
    context.add_init_script(CSP_PROBE)
    page = context.new_page()
    yield Watched(page)
    context.close()


def _sign_in(watched: Watched, email: str) -> None:
    page = watched.page
    watched.visit("/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/(apps|workspaces)/$"))
    watched.assert_clean("after sign-in")


@pytest.fixture
def team():  # type: ignore[no-untyped-def]
    from integrations.models import CallLog
    from tests.factories import UserFactory, add_member, make_app, shared_workspace
    from workspaces.models import Role

    owner = UserFactory(email="csp-owner@example.com", is_staff=True, is_superuser=True)
    ws = shared_workspace(owner, "Policy Co", plan="builder")
    other = shared_workspace(owner, "Second Co", plan="builder")
    add_member(ws, UserFactory(email="csp-member@example.com"), Role.MEMBER)
    app = make_app(ws, owner, "Gadget")
    CallLog.objects.create(request_id=uuid.uuid4().hex, workspace=ws, app=app,
                           integration_slug="petstore", operation="get:/pets",
                           caller_kind="service", phase="responded", status_code=200,
                           response_status=200, credits=1)
    return owner, ws, other, app




def test_dashboard_pages_run_under_the_policy(watched, team):
    owner, ws, _, app = team
    _sign_in(watched, owner.email)
    w = f"/w/{ws.public_id}"
    for path in [f"{w}/apps/", f"{w}/apps/{app.public_id}/", f"{w}/integrations/",
                 f"{w}/integrations/new/", f"{w}/calls/", f"{w}/custom-apis/", f"{w}/secrets/",
                 f"{w}/secrets/apps/{app.public_id}/", f"{w}/catalog/", f"{w}/catalog/new/",
                 f"{w}/connectors/", f"{w}/credits/", f"{w}/members/", f"{w}/settings/",
                 "/workspaces/", "/tokens/", "/notifications/", "/catalog/review/",
                 "/admin/", "/admin/workspaces/user/",
                 f"/admin/workspaces/user/{owner.pk}/change/"]:
        watched.visit(path)
    # The usage chart's legend (was inline styles) is drawn.
    watched.visit(f"{w}/calls/")
    assert watched.page.locator(".usage .legend .swatch").count() >= 2


def test_confirmations_and_the_workspace_switcher_still_work(watched, team):
    from workspaces import services
    from workspaces.models import AppServiceToken

    owner, ws, other, app = team
    services.create_service_token(app, actor=owner, name="doomed")
    _sign_in(watched, owner.email)
    page = watched.page
    watched.visit(f"/w/{ws.public_id}/apps/{app.public_id}/")

    # Cancel the confirmation: nothing is revoked, the page stays.
    asked: list[str] = []

    def answer(accept: bool):  # type: ignore[no-untyped-def]
        def handler(dialog):  # type: ignore[no-untyped-def]
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()
        return handler

    page.once("dialog", answer(False))
    page.get_by_test_id("service-tokens").locator("button", has_text="Revoke").first.click()
    page.wait_for_timeout(300)
    assert asked == ["Revoke this token? Calls using it will fail at once."]
    assert AppServiceToken.objects.get(app=app).revoked_at is None
    # Accept it: revoked.
    page.once("dialog", answer(True))
    page.get_by_test_id("service-tokens").locator("button", has_text="Revoke").first.click()
    page.wait_for_load_state("load")
    for _ in range(50):
        if AppServiceToken.objects.get(app=app).revoked_at is not None:
            break
        page.wait_for_timeout(100)
    assert AppServiceToken.objects.get(app=app).revoked_at is not None
    watched.assert_clean("after revoking")

    # The top bar's workspace switcher navigates on change (was an inline onchange).
    page.select_option("#ws-switch", label="Second Co")
    page.wait_for_url(re.compile(rf"/w/{other.public_id}/apps/$"))
    watched.assert_clean("after switching workspace")


def test_swagger_ui_runs_under_the_policy(watched):
    watched.visit("/api/docs/")
    page = watched.page
    page.locator(".swagger-ui .info .title").wait_for()
    assert "Switchboard API" in page.locator(".swagger-ui .info .title").inner_text()
    page.locator(".opblock").first.wait_for()
    assert page.locator(".opblock").count() > 20
    page.locator(".opblock-summary").first.click()  # expand an operation: React still works
    page.locator(".opblock-body").first.wait_for()
    watched.assert_clean("/api/docs/ after rendering")


def test_the_probe_sees_what_the_policy_blocks(watched):
    """The checks above can fail: an inline handler, an inline script and an off-site image
    injected into a served page are blocked and reported."""
    watched.visit("/login/")
    watched.page.evaluate("""() => {
      document.body.insertAdjacentHTML("beforeend",
        '<img src="/static/none.png" onerror="window.ran=1">');
      const s = document.createElement("script");
      s.textContent = "window.ran = 2";
      document.body.append(s);
      const i = new Image(); i.src = "https://cdn.example.com/x.png"; document.body.append(i);
    }""")
    watched.page.wait_for_timeout(500)
    events = watched.page.evaluate("window.__csp")
    assert watched.page.evaluate("window.ran") is None
    assert any(e.startswith("script-src") for e in events), events
    assert any(e.startswith("img-src") and "cdn.example.com" in e for e in events), events
    with pytest.raises(AssertionError):
        watched.assert_clean("injected")
