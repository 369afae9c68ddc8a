"""Which headers are sensitive: the vendor forms the name rule knows, and any header an admin
marks sensitive (a checkbox per row in the Configure form, ``"sensitive": true`` in the admin
API). A sensitive value is stored encrypted, never returned, and can't be made plain without a
new value; a known sensitive name can't be un-marked at all."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from integrations import services
from integrations.models import IntegrationHeader, WorkspaceIntegration
from integrations.services import HeaderInput
from tests.integrations.test_proxy_secrets import scan_database
from tests.integrations.typed_value_support import (
    assert_nothing_saved,
    assert_typed_value_back_only_in_its_password_field,
)
from tests.integrations.wizard_support import CONTACTS_V1, canary, make_integration, ready_import

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", [
    "X-Auth-Key", "x-auth-key", "Ocp-Apim-Subscription-Key", "X-Goog-Api-Key",
    "X-Functions-Api-Key", "Foo-Subscription-Key", "X-Hub-Signature", "X-Signature",
    "Cookie", "Set-Cookie", "X-Custom-Token", "X-Client-Secret", "X-Access-Key",
    "X-Private-Key", "x_goog_api_key",
])
def test_vendor_sensitive_header_names(name):
    assert services.is_sensitive_header(name)


@pytest.mark.parametrize("name", ["X-Tenant", "Accept", "X-Request-Id", "Idempotency-Key",
                                  "X-Api-Version", "Accept-Language"])
def test_ordinary_names_stay_plain(name):
    assert not services.is_sensitive_header(name)


def api_base(personas: Any) -> str:
    return f"/api/v1/workspaces/{personas.workspace.public_id}/integrations/"


def ws_url(personas: Any, name: str, *args: str) -> str:
    return reverse(name, args=[personas.workspace.public_id, *args])


def stored(integration: WorkspaceIntegration, name: str) -> IntegrationHeader:
    return IntegrationHeader.objects.get(integration=integration, name=name)


# --- the attack: a vendor key the old rule did not know was shown back ------------------------


def test_a_vendor_key_is_never_returned(api, personas):
    """X-Auth-Key and Ocp-Apim-Subscription-Key were stored in plain text and returned to
    every admin by the API and the edit page."""
    auth_key, apim_key = canary(), canary()
    spec_import = ready_import(personas.workspace, personas.admin, CONTACTS_V1)
    client = api(personas.admin)
    response = client.post(api_base(personas), {
        "import_id": spec_import.public_id, "slug": "crm", "name": "CRM",
        "base_url": "https://api.example.com", "operations": ["get:/contacts"],
        "headers": [{"name": "X-Auth-Key", "value": auth_key},
                    {"name": "Ocp-Apim-Subscription-Key", "value": apim_key}]}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["headers"] == [
        {"name": "X-Auth-Key", "sensitive": True, "value": None},
        {"name": "Ocp-Apim-Subscription-Key", "sensitive": True, "value": None}]
    integration = WorkspaceIntegration.objects.get(slug="crm")
    for text in [response.content.decode(),
                 client.get(api_base(personas) + integration.public_id + "/").content.decode(),
                 client.get(api_base(personas) + integration.public_id + "/headers/")
                 .content.decode()]:
        assert auth_key not in text and apim_key not in text
    assert scan_database([auth_key, apim_key]) == []
    assert services.integration_headers(integration) == {
        "X-Auth-Key": auth_key, "Ocp-Apim-Subscription-Key": apim_key}


# --- marking any header sensitive: the admin API ----------------------------------------------


def test_api_marks_any_header_sensitive(api, personas):
    value = canary()
    spec_import = ready_import(personas.workspace, personas.admin, CONTACTS_V1)
    client = api(personas.admin)
    response = client.post(api_base(personas), {
        "import_id": spec_import.public_id, "slug": "crm", "name": "CRM",
        "base_url": "https://api.example.com", "operations": ["get:/contacts"],
        "headers": [{"name": "X-Tenant-Id", "value": value, "sensitive": True},
                    {"name": "X-Tenant", "value": "acme"}]}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["headers"] == [
        {"name": "X-Tenant-Id", "sensitive": True, "value": None},
        {"name": "X-Tenant", "sensitive": False, "value": "acme"}]
    integration = WorkspaceIntegration.objects.get(slug="crm")
    url = api_base(personas) + integration.public_id + "/"
    assert value not in client.get(url).content.decode()
    assert scan_database([value]) == []
    assert stored(integration, "X-Tenant-Id").value == ""
    # kept without a value and "sensitive": false: it stays sensitive (nothing is revealed)
    response = client.put(url + "headers/", {"headers": [
        {"name": "X-Tenant-Id", "sensitive": False}, {"name": "X-Tenant"}]}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()[0] == {"name": "X-Tenant-Id", "sensitive": True, "value": None}
    assert value not in response.content.decode()
    # a plain header marked sensitive while kept: its value must be typed again
    response = client.put(url + "headers/", {"headers": [
        {"name": "X-Tenant-Id"}, {"name": "X-Tenant", "sensitive": True}]}, format="json")
    assert response.status_code == 400 and "again" in response.json()["detail"]
    assert response.json()["errors"] == {"headers": [response.json()["detail"]]}
    # "delete to change": a new value, not marked, makes it plain (the old value is gone)
    response = client.put(url + "headers/", {"headers": [
        {"name": "X-Tenant-Id", "value": "public-id"}, {"name": "X-Tenant"}]}, format="json")
    assert response.json()[0] == {"name": "X-Tenant-Id", "sensitive": False,
                                  "value": "public-id"}
    assert services.integration_headers(integration)["X-Tenant-Id"] == "public-id"
    assert scan_database([value]) == []


def test_a_known_sensitive_name_cannot_be_unmarked(api, personas):
    integration = make_integration(personas.workspace, personas.admin)
    value = canary()
    url = api_base(personas) + integration.public_id + "/headers/"
    response = api(personas.admin).put(url, {"headers": [
        {"name": "X-Auth-Key", "value": value, "sensitive": False}]}, format="json")
    assert response.status_code == 200
    assert response.json() == [{"name": "X-Auth-Key", "sensitive": True, "value": None}]
    assert stored(integration, "X-Auth-Key").value == ""


def test_a_plain_member_cannot_mark_or_see(api, personas):
    value = canary()
    integration = make_integration(personas.workspace, personas.admin, headers=[
        HeaderInput("X-Tenant-Id", value, sensitive=True)])
    url = api_base(personas) + integration.public_id + "/headers/"
    member = api(personas.member)
    assert member.get(url).json() == [{"name": "X-Tenant-Id", "sensitive": True, "value": None}]
    response = member.put(url, {"headers": [{"name": "X-Tenant-Id", "value": "x"}]},
                          format="json")
    assert response.status_code == 403
    assert api(personas.outsider).get(url).status_code == 404
    assert api(None).get(url).status_code in (401, 403)
    assert services.integration_headers(integration) == {"X-Tenant-Id": value}


# --- marking any header sensitive: the Configure form -----------------------------------------


@pytest.fixture
def admin_client(client, personas):  # type: ignore[no-untyped-def]
    client.force_login(personas.admin)
    return client


def configure(admin_client: Any, personas: Any) -> tuple[str, Any]:
    spec_import = ready_import(personas.workspace, personas.admin, CONTACTS_V1)
    session = admin_client.session
    session[f"integrations:new:{spec_import.public_id}"] = ["get:/contacts"]
    session.save()
    return ws_url(personas, "integration-new-configure", spec_import.public_id), spec_import


def test_configure_form_has_a_sensitive_checkbox_per_row(admin_client, personas):
    url, _ = configure(admin_client, personas)
    html = admin_client.get(url).content.decode()
    assert html.count('data-testid="header-sensitive"') == 2  # the blank row + the template
    value = canary()
    response = admin_client.post(url, {
        "slug": "crm", "name": "CRM", "base_url": "https://crm.example.com",
        "header_row": ["0", "1", "n5"], "header_keep": ["", "", ""],
        "header_name": ["X-Tenant-Id", "X-Tenant", "X-Plain"],
        "header_value": [value, "acme", "p"], "header_sensitive": ["0"]})
    assert response.status_code == 302
    integration = WorkspaceIntegration.objects.get(slug="crm")
    assert [(h.name, h.sensitive) for h in integration.headers.all()] == [
        ("X-Tenant-Id", True), ("X-Tenant", False), ("X-Plain", False)]
    edit = ws_url(personas, "integration-edit", integration.public_id)
    html = admin_client.get(edit).content.decode()
    assert value not in html and html.count("sensitive – delete to change") == 1
    assert 'value="acme"' in html
    # the stored sensitive row: its checkbox is ticked and can't be changed
    row = html[html.index('value="X-Tenant-Id"'):html.index('value="X-Tenant"')]
    assert "checked disabled" in row
    # saving the page as it is keeps the value
    response = admin_client.post(edit, {
        "slug": "crm", "name": "CRM", "base_url": "https://crm.example.com",
        "header_row": ["0", "1", "2"], "header_keep": ["1", "1", "1"],
        "header_name": ["X-Tenant-Id", "X-Tenant", "X-Plain"],
        "header_value": ["", "acme", "p"], "header_sensitive": ["0"]})
    assert response.status_code == 302
    assert services.integration_headers(integration)["X-Tenant-Id"] == value
    # a forged post that drops the mark of the kept row reveals nothing and changes nothing
    response = admin_client.post(edit, {
        "slug": "crm", "name": "CRM", "base_url": "https://crm.example.com",
        "header_row": ["0"], "header_keep": ["1"], "header_name": ["X-Tenant-Id"],
        "header_value": [""]})
    assert response.status_code == 200 and value not in response.content.decode()
    assert stored(integration, "X-Tenant-Id").sensitive
    assert services.integration_headers(integration)["X-Tenant-Id"] == value


def test_a_failed_save_keeps_the_mark_and_the_value_only_in_its_password_field(
        admin_client, personas):
    """A header the admin marked sensitive: after a failed save the mark stays and the typed
    value is back only in that row's password field (issue 14 §4.4); nothing is saved."""
    url, _ = configure(admin_client, personas)
    value = canary()
    response = admin_client.post(url, {
        "slug": "Bad Slug", "name": "CRM", "base_url": "https://crm.example.com",
        "header_row": ["0", "1"], "header_keep": ["", ""],
        "header_name": ["X-Tenant-Id", "X-Tenant"], "header_value": [value, "acme"],
        "header_sensitive": ["0"]})
    html = response.content.decode()
    assert_typed_value_back_only_in_its_password_field(response, "X-Tenant-Id", value)
    first = html[html.index('value="X-Tenant-Id"'):html.index('value="X-Tenant"')]
    assert 'type="password"' in first and " checked" in first and "enter it again" not in first
    second = html[html.index('value="X-Tenant"'):]
    second = second[:second.index("</div>")]
    assert 'value="acme"' in second and " checked" not in second
    assert not WorkspaceIntegration.objects.exists()
    assert not IntegrationHeader.objects.exists()
    assert_nothing_saved(admin_client, value)
    # saved, it never comes back: not on the edit page, not in a failed save of the edit
    response = admin_client.post(url, {
        "slug": "crm", "name": "CRM", "base_url": "https://crm.example.com",
        "header_row": ["0", "1"], "header_keep": ["", ""],
        "header_name": ["X-Tenant-Id", "X-Tenant"], "header_value": [value, "acme"],
        "header_sensitive": ["0"]})
    assert response.status_code == 302
    integration = WorkspaceIntegration.objects.get(slug="crm")
    assert stored(integration, "X-Tenant-Id").sensitive
    edit = ws_url(personas, "integration-edit", integration.public_id)
    assert value not in admin_client.get(edit).content.decode()
    assert value not in admin_client.get(response.url).content.decode()
    failed = admin_client.post(edit, {
        "slug": "Bad Slug", "name": "CRM", "base_url": "https://crm.example.com",
        "header_row": ["0", "1"], "header_keep": ["1", "1"], "header_sensitive": ["0"],
        "header_name": ["X-Tenant-Id", "X-Tenant"], "header_value": ["", "acme"]})
    assert failed.status_code == 200 and value not in failed.content.decode()


def test_known_names_show_a_ticked_locked_checkbox(admin_client, personas):
    url, _ = configure(admin_client, personas)
    response = admin_client.post(url, {
        "slug": "Bad Slug", "name": "CRM", "base_url": "https://crm.example.com",
        "header_row": ["0"], "header_keep": [""], "header_name": ["Ocp-Apim-Subscription-Key"],
        "header_value": [canary()]})
    html = response.content.decode()
    row = html[html.index('value="Ocp-Apim-Subscription-Key"'):]
    row = row[:row.index("</div>")]
    assert "checked disabled" in row
