"""The e-mailed invitation link in a real browser: the token rides in the URL fragment, the page's
script POSTs it, and no request the browser makes (URL or Referer) ever carries it."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from tests.factories import PASSWORD, UserFactory
from workspaces import services
from workspaces.models import Membership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_invitation_link_signs_in_and_joins_without_the_token_in_any_url(page, live_server,
                                                                         personas):
    services.invite(personas.workspace, actor=personas.owner, email="newcomer@example.com",
                    link_base=live_server.url)
    link = re.search(r"(http://\S+/invite/\S+)", mail.outbox[-1].body).group(1)
    token = link.split("#", 1)[1]
    UserFactory(email="newcomer@example.com")
    seen: list[str] = []
    page.on("request", lambda r: seen.append(f"{r.url} {r.headers.get('referer', '')}"))
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text
            else None)

    page.goto(link)  # signed out
    page.wait_for_selector("text=Sign in")
    assert "#" not in page.url  # the script dropped the fragment from the address bar
    assert "newcomer@example.com" in page.content()
    page.click("a:has-text('Sign in')")
    page.fill("#id_username", "newcomer@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("button:has-text('Accept invitation')")
    page.click("button:has-text('Accept invitation')")
    page.wait_for_url(re.compile(r"/w/[0-9a-f]{24}/apps/$"))
    assert "You joined Acme" in page.content()
    assert Membership.objects.filter(workspace=personas.workspace,
                                     user__email="newcomer@example.com").exists()
    assert seen and not [s for s in seen if token in s]
    assert not violations
