"""The page layout (templates/base.html): account-level pages keep the workspace the user was
last in (sidebar and switcher), a skip link, the phone Menu button, no inline script or style."""

from __future__ import annotations

import re

import pytest

from tests.factories import make_app, shared_workspace
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def _selected(html: str) -> str:
    match = re.search(r'<option value="[^"]*" selected>([^<]+)</option>', html)
    assert match, "no workspace selected in the switcher"
    return match.group(1)


@pytest.mark.parametrize("path", ["/tokens/", "/notifications/"])
def test_account_pages_keep_the_last_workspace_and_its_sidebar(client, personas, path):
    client.force_login(personas.owner)
    # The owner has two teams: opening the second one makes it the current one.
    second = shared_workspace(personas.owner, "Zeta Labs")
    assert client.get(f"/w/{second.public_id}/apps/").status_code == 200
    page = client.get(path).content.decode()
    assert _selected(page) == "Zeta Labs"
    assert 'class="sidebar" id="site-nav"' in page
    assert f'href="/w/{second.public_id}/calls/"' in page  # the sidebar of that workspace
    # ... and back to the first one.
    client.get(f"/w/{personas.workspace.public_id}/apps/")
    page = client.get(path).content.decode()
    assert _selected(page) == "Acme"
    assert f'href="/w/{personas.workspace.public_id}/calls/"' in page
    assert f'href="/w/{second.public_id}/calls/"' not in page


def test_the_403_page_keeps_the_workspace_layout(client, personas):
    client.force_login(personas.member)
    response = client.get(f"/w/{personas.workspace.public_id}/integrations/new/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "You can't do that here" in page
    assert _selected(page) == "Acme" and 'id="site-nav"' in page


def test_an_outsider_never_gets_a_sidebar_of_a_workspace_they_are_not_in(client, personas):
    """A 404 for someone else's workspace falls back to the user's own workspaces."""
    client.force_login(personas.outsider)
    response = client.get(f"/w/{personas.workspace.public_id}/apps/")
    assert response.status_code == 404
    page = response.content.decode()
    assert personas.workspace.public_id not in page and "Acme" not in page
    assert _selected(page) == "Globex"


def test_signed_out_pages_have_no_navigation_but_a_skip_link(client):
    page = client.get("/login/").content.decode()
    assert 'href="#main"' in page and 'id="main"' in page
    assert "data-nav-toggle" not in page and 'id="site-nav"' not in page


def test_signed_in_pages_have_the_menu_button_skip_link_and_no_inline_code(client, personas):
    client.force_login(personas.admin)
    make_app(personas.workspace, personas.admin, "Kiosk")
    page = client.get(f"/w/{personas.workspace.public_id}/apps/").content.decode()
    assert re.search(r'<a class="skip-link" href="#main">', page)
    assert re.search(r'<button type="button" class="nav-toggle" data-nav-toggle '
                     r'aria-expanded="false" aria-controls="site-nav account-nav">Menu</button>',
                     page)
    assert 'aria-current="page"' in page  # the current section is announced
    assert not re.search(r"<script(?![^>]*\bsrc=)", page) and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page)


def test_a_member_sees_copy_buttons_for_names_and_ids(client, personas):
    from secrets_vault import services as vault

    vault.set_secret(personas.workspace, "MAPS_KEY", "v-123", actor=personas.owner)
    client.force_login(personas.member)
    assert personas.member.memberships.get(workspace=personas.workspace).role == Role.MEMBER
    secrets = client.get(f"/w/{personas.workspace.public_id}/secrets/").content.decode()
    assert 'data-copy="MAPS_KEY"' in secrets and "v-123" not in secrets
    app = client.get(f"/w/{personas.workspace.public_id}/apps/{personas.app.public_id}/")
    assert f'data-copy="{personas.app.public_id}"' in app.content.decode()
