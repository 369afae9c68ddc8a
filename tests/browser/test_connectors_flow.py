"""Connectors in real Chromium: the app owner connects a platform connector through a real OAuth
2.0 authorization server (django-oauth-toolkit on 127.0.0.1, tests/oauth_provider), sees it
connected on the app's Connectors page, then disconnects it (the token is revoked)."""

from __future__ import annotations

import re

import pytest

from tests.connectors.conftest import connector_settings, oauth_provider  # noqa: F401
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def portal_page(browser, live_server, connector_settings):  # noqa: F811  # type: ignore[no-untyped-def]
    # The provider accepts any port on http://127.0.0.1/connectors/oauth/callback/ (RFC 8252
    # loopback), so the browser uses 127.0.0.1 for the portal too.
    base = live_server.url.replace("://localhost:", "://127.0.0.1:")
    connector_settings.CONNECTOR_CALLBACK_URL = base + "/connectors/oauth/callback/"
    context = browser.new_context(base_url=base)
    context.set_default_timeout(15000)
    page = context.new_page()
    yield page
    context.close()


def test_owner_connects_github_through_the_provider_and_sees_it_connected(
        portal_page, personas, oauth_provider):  # noqa: F811
    from connectors.models import Connection

    page = portal_page
    page.goto("/login/")
    page.fill("#id_username", personas.owner.email)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/(apps|workspaces)/$"))

    connectors_url = f"/w/{personas.workspace.public_id}/apps/{personas.app.public_id}/connectors/"
    page.goto(connectors_url)
    row = page.get_by_test_id("connector-github")
    assert "not connected" in row.inner_text()
    assert "not configured on this server" in page.get_by_test_id("connector-gitlab").inner_text()

    row.get_by_role("button", name="Connect").click()
    # our page -> the provider (sign-in, authorize) -> our callback -> back to the page
    page.wait_for_url(re.compile(re.escape(connectors_url) + "$"))
    assert "Connected github." in page.content()
    row = page.get_by_test_id("connector-github")
    text = row.text_content()  # the badge is upper-cased by CSS; the text is "Connected"
    assert "Connected" in text and "not connected" not in text
    assert "Reconnect" in text
    assert "read write" in text and "never" not in text  # scopes and expiry shown
    conn = Connection.objects.get(app=personas.app, integration_type="github")
    access = conn.access_token.reveal()
    assert oauth_provider.me(access) == 200
    assert access not in page.content() and conn.refresh_token.reveal() not in page.content()

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Disconnect").click()
    page.wait_for_load_state()
    page.get_by_text("Disconnected github and revoked its tokens at the provider.").wait_for()
    assert "not connected" in page.get_by_test_id("connector-github").inner_text()
    assert not Connection.objects.filter(app=personas.app).exists()
    assert oauth_provider.me(access) in (401, 403)
