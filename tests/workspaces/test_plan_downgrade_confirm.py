"""A downgrade says what stops working and asks for confirmation (issue 14 §4.15)."""

from __future__ import annotations

import pytest

from integrations.models import CallLog
from tests.integrations.proxy_support import make_integration

pytestmark = pytest.mark.django_db


def settings_url(personas) -> str:  # type: ignore[no-untyped-def]
    return f"/w/{personas.workspace.public_id}/settings/"


def test_builder_to_free_lists_integrations_and_apps_and_waits_for_confirmation(client, personas):
    integration = make_integration(personas.workspace, "https://crm.example", slug="crm")
    CallLog.objects.create(request_id="r1", workspace=personas.workspace, app=personas.app,
                           integration=integration, integration_slug="crm", operation="get:/x",
                           caller_kind="service", phase="responded", status_code=200,
                           response_status=200)
    client.force_login(personas.owner)
    response = client.post(settings_url(personas), {"action": "plan", "plan": "free"})
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="downgrade-confirm"' in html
    assert "1 workspace integration (crm)" in html and "Storefront" in html
    assert "From next month the grant is 100 credits instead of 2,000" in html
    personas.workspace.refresh_from_db()
    assert personas.workspace.plan == "builder"  # nothing changed yet
    response = client.post(settings_url(personas), {"action": "plan", "plan": "free",
                                                     "confirm": "yes"})
    assert response.status_code == 302
    personas.workspace.refresh_from_db()
    assert personas.workspace.plan == "free"


def test_an_upgrade_needs_no_confirmation(client, personas):
    client.force_login(personas.owner)
    assert client.post(settings_url(personas), {"action": "plan", "plan": "pro"}
                       ).status_code == 302
    personas.workspace.refresh_from_db()
    assert personas.workspace.plan == "pro"


def test_admins_and_members_cannot_change_the_plan_even_confirmed(client, personas):
    for user in (personas.admin, personas.member):
        client.force_login(user)
        assert client.post(settings_url(personas), {"action": "plan", "plan": "free",
                                                    "confirm": "yes"}).status_code == 403
    client.force_login(personas.outsider)
    assert client.post(settings_url(personas), {"action": "plan", "plan": "free",
                                                "confirm": "yes"}).status_code == 404
    personas.workspace.refresh_from_db()
    assert personas.workspace.plan == "builder"
