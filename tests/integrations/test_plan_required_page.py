"""The "plan required" page offers a next step (issue 14 §4.15): owners get the Settings link,
everyone else the owners to ask."""

from __future__ import annotations

import pytest

from tests.factories import UserFactory, add_member, shared_workspace
from workspaces.models import Role

pytestmark = pytest.mark.django_db


def test_owner_gets_the_settings_link_and_a_member_the_owner_to_ask(client):
    owner, member = UserFactory(email="boss@example.com"), UserFactory(email="m@example.com")
    ws = shared_workspace(owner, "Small", plan="free")
    add_member(ws, member, Role.MEMBER)
    client.force_login(owner)
    response = client.get(f"/w/{ws.public_id}/integrations/")
    html = response.content.decode()
    assert response.status_code == 403 and 'data-testid="plan-next-step"' in html
    assert f'href="/w/{ws.public_id}/settings/"' in html and "Change the plan" in html
    client.force_login(member)
    html = client.get(f"/w/{ws.public_id}/integrations/").content.decode()
    assert "Only an owner can change the plan" in html
    assert 'href="mailto:boss@example.com"' in html and "m@example.com</a>" not in html
    assert "Change the plan in Settings" not in html


def test_outsiders_still_get_404(client):
    ws = shared_workspace(UserFactory(), "Small", plan="free")
    client.force_login(UserFactory())
    assert client.get(f"/w/{ws.public_id}/integrations/").status_code == 404
