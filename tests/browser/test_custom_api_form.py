"""The Custom API form shows the basic-auth user name only for basic auth (static/js/forms.js,
issue 14 §4.15); without JavaScript the field is there and ignored for other auth types."""

from __future__ import annotations

import re

import pytest

from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_username_field_follows_the_auth_type(page, personas):
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto("/login/")
    page.fill("#id_username", personas.owner.email)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(r"/w/"))
    page.goto(f"/w/{personas.workspace.public_id}/custom-apis/")
    username = page.locator("#id_username")
    page.select_option("#id_auth_type", "api_key")
    assert not username.is_visible()
    page.select_option("#id_auth_type", "basic")
    assert username.is_visible()
    assert page.locator("label[for=id_username]").is_visible()
    page.select_option("#id_auth_type", "bearer")
    assert not username.is_visible()
    assert not problems, problems
