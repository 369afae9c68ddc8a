""""Allow anonymous integration calls" is an admin's decision: when on, anyone on the internet
calls the workspace's integrations through the app (secret headers attached server-side,
credits charged to the workspace). A plain member can't turn it on for their own app (dashboard
or admin API), nothing changes when they try, every change is audited, and the app page warns
while it is on."""

from __future__ import annotations

import pytest

from workspaces.models import App, AuditEntry

pytestmark = pytest.mark.django_db

REFUSAL = "Only workspace admins and owners can allow anonymous integration calls"


def apps_api(personas) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/workspaces/{personas.workspace.public_id}/apps/"


def own_app(api, personas) -> App:  # type: ignore[no-untyped-def]
    created = api(personas.member).post(apps_api(personas), {"name": "Mine"}, format="json")
    assert created.status_code == 201, created.content
    return App.objects.get(public_id=created.json()["id"])


def page(personas, app: App) -> str:  # type: ignore[no-untyped-def]
    return f"/w/{personas.workspace.public_id}/apps/{app.public_id}/"


def test_member_cannot_turn_it_on_through_the_api(api, personas):
    app = own_app(api, personas)
    response = api(personas.member).patch(f"{apps_api(personas)}{app.public_id}/",
                                          {"allow_anonymous_integration_calls": True,
                                           "name": "Renamed"}, format="json")
    assert response.status_code == 403, response.content
    body = response.json()
    assert REFUSAL in body["detail"]
    assert body["errors"]["allow_anonymous_integration_calls"] == [body["detail"]]
    app.refresh_from_db()
    assert app.allow_anonymous_integration_calls is False and app.name == "Mine"
    assert not AuditEntry.objects.filter(action="app.anonymous_calls").exists()


def test_member_cannot_create_an_app_with_it_on(api, personas):
    response = api(personas.member).post(apps_api(personas), {
        "name": "Open door", "allow_anonymous_integration_calls": True}, format="json")
    assert response.status_code == 403, response.content
    assert REFUSAL in response.json()["detail"]
    assert not App.objects.filter(name="Open door").exists()


def test_member_cannot_turn_it_on_in_the_dashboard(client, api, personas):
    app = own_app(api, personas)
    client.force_login(personas.member)
    response = client.post(page(personas, app), {
        "action": "update", "name": "Renamed", "allow_anonymous_integration_calls": "on"})
    assert response.status_code == 200
    html = response.content.decode()
    assert REFUSAL in html
    assert 'value="Renamed"' in html  # what was typed is kept
    app.refresh_from_db()
    assert app.allow_anonymous_integration_calls is False and app.name == "Mine"
    # the create form on the Apps page refuses it the same way
    response = client.post(f"/w/{personas.workspace.public_id}/apps/", {
        "name": "Open door", "allow_anonymous_integration_calls": "on"})
    assert response.status_code == 200 and REFUSAL in response.content.decode()
    assert not App.objects.filter(name="Open door").exists()


def test_member_may_still_rename_and_turn_it_off(api, personas):
    app = own_app(api, personas)
    App.objects.filter(pk=app.pk).update(allow_anonymous_integration_calls=True)
    client = api(personas.member)
    url = f"{apps_api(personas)}{app.public_id}/"
    assert client.patch(url, {"name": "Renamed", "allow_anonymous_integration_calls": True},
                        format="json").status_code == 200  # unchanged value: not a change
    response = client.patch(url, {"allow_anonymous_integration_calls": False}, format="json")
    assert response.status_code == 200
    app.refresh_from_db()
    assert app.allow_anonymous_integration_calls is False and app.name == "Renamed"
    entry = AuditEntry.objects.get(action="app.anonymous_calls")
    assert entry.actor == personas.member and entry.changes == {
        "allow_anonymous_integration_calls": {"from": True, "to": False}}


@pytest.mark.parametrize("role", ["admin", "owner"])
def test_admin_turns_it_on_audited_and_the_page_warns(client, api, personas, role):
    user = getattr(personas, role)
    app = own_app(api, personas)
    response = api(user).patch(f"{apps_api(personas)}{app.public_id}/",
                               {"allow_anonymous_integration_calls": True}, format="json")
    assert response.status_code == 200, response.content
    app.refresh_from_db()
    assert app.allow_anonymous_integration_calls is True
    entry = AuditEntry.objects.get(action="app.anonymous_calls")
    assert entry.actor == user and entry.workspace == personas.workspace
    assert entry.target_name == "Mine" and entry.scope == f"app:{app.public_id}"
    assert entry.changes == {"allow_anonymous_integration_calls": {"from": False, "to": True}}
    client.force_login(personas.member)  # everyone who opens the app sees the warning
    html = client.get(page(personas, app)).content.decode()
    assert 'data-testid="anonymous-calls-warning"' in html
    assert "Anyone on the internet" in html


def test_admin_turns_it_on_in_the_dashboard(client, personas):
    client.force_login(personas.admin)
    app = personas.app
    response = client.post(page(personas, app), {
        "action": "update", "name": app.name, "allow_anonymous_integration_calls": "on"})
    assert response.status_code == 302
    app.refresh_from_db()
    assert app.allow_anonymous_integration_calls is True
    assert AuditEntry.objects.filter(action="app.anonymous_calls", actor=personas.admin).exists()
    html = client.get(page(personas, app)).content.decode()
    assert 'data-testid="anonymous-calls-warning"' in html


def test_admin_created_app_with_it_on_is_audited(api, personas):
    response = api(personas.admin).post(apps_api(personas), {
        "name": "Kiosk", "allow_anonymous_integration_calls": True}, format="json")
    assert response.status_code == 201
    entry = AuditEntry.objects.get(action="app.create", target_name="Kiosk")  # one entry
    assert entry.actor == personas.admin
    assert entry.changes["allow_anonymous_integration_calls"] == {"from": None, "to": True}


def test_no_warning_while_off(client, personas):
    client.force_login(personas.owner)
    html = client.get(page(personas, personas.app)).content.decode()
    assert 'data-testid="anonymous-calls-warning"' not in html
