"""Dashboard behaviour: write-only forms, masking, history, confirmations, query ceilings."""

from __future__ import annotations

import pytest

from secrets_vault import services as vault
from secrets_vault.models import CustomApi, Secret
from tests.factories import make_app
from tests.secrets_vault.conftest import new_canary

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, personas):  # type: ignore[no-untyped-def]
    client.force_login(personas.owner)
    return client


def test_create_error_keeps_typed_fields_but_not_the_value(owner_client, personas):
    canary = new_canary()
    url = f"/w/{personas.workspace.public_id}/secrets/"
    response = owner_client.post(url, {"name": "bad-name", "value": canary,
                                       "description": "typed description"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "upper-case letters" in html
    assert 'value="bad-name"' in html and 'value="typed description"' in html
    assert canary not in html
    assert not Secret.objects.exists()


def test_duplicate_name_error_does_not_echo_the_value(owner_client, personas):
    vault.set_secret(personas.workspace, "TAKEN", "v", actor=personas.owner)
    canary = new_canary()
    response = owner_client.post(f"/w/{personas.workspace.public_id}/secrets/",
                                 {"name": "TAKEN", "value": canary})
    html = response.content.decode()
    assert "already exists" in html and canary not in html


def test_create_then_list_shows_set_by_and_no_value(owner_client, personas):
    canary = new_canary()
    url = f"/w/{personas.workspace.public_id}/secrets/"
    response = owner_client.post(url, {"name": "NEW_KEY", "value": canary}, follow=True)
    html = response.content.decode()
    assert "Secret NEW_KEY saved." in html
    assert f"set by {personas.owner.email} on" in html
    assert canary not in html


def test_replace_raises_version_and_history_shows_metadata(owner_client, personas):
    ws = personas.workspace.public_id
    vault.set_secret(personas.workspace, "ROT", "first", actor=personas.admin)
    canary = new_canary()
    response = owner_client.post(f"/w/{ws}/secrets/ROT/", {"value": canary}, follow=True)
    html = response.content.decode()
    assert "ROT replaced (version 2)" in html
    assert "v2" in html and "v1" in html and personas.admin.email in html
    assert canary not in html and "first" not in html


def test_replace_error_keeps_description_not_value(owner_client, personas):
    ws = personas.workspace.public_id
    vault.set_secret(personas.workspace, "ROT", "first", actor=personas.admin)
    response = owner_client.post(f"/w/{ws}/secrets/ROT/",
                                 {"value": "", "description": "still here"})
    html = response.content.decode()
    assert response.status_code == 200 and "still here" in html


def test_app_tab_shows_inherited_and_overridden(owner_client, personas, vault_data):
    html = owner_client.get(f"/w/{personas.workspace.public_id}/secrets/apps/"
                            f"{personas.app.public_id}/").content.decode()
    assert "APP_ONLY_KEY" in html and "STRIPE_API_KEY" in html
    assert "overridden by this app" in html
    assert "CUSTOM_API_BEARER_SERVICE" in html
    assert "__integration_header_1" not in html


def test_member_sees_names_but_no_forms(client, personas, vault_data):
    client.force_login(personas.member)
    html = client.get(f"/w/{personas.workspace.public_id}/secrets/").content.decode()
    assert "STRIPE_API_KEY" in html and 'name="value"' not in html
    html = client.get(f"/w/{personas.workspace.public_id}/custom-apis/").content.decode()
    assert "CUSTOM_API_API_KEY_SERVICE" in html and 'name="credential"' not in html


def test_delete_secret_asks_first(owner_client, personas, vault_data):
    url = f"/w/{personas.workspace.public_id}/secrets/STRIPE_API_KEY/delete/"
    html = owner_client.get(url).content.decode()
    assert "Delete STRIPE_API_KEY?" in html and "stops getting" in html
    assert Secret.objects.filter(name="STRIPE_API_KEY").exists()
    owner_client.post(url)
    assert not Secret.objects.filter(name="STRIPE_API_KEY").exists()


def test_custom_api_create_error_keeps_fields_but_not_credentials(owner_client, personas):
    user, password = new_canary(), new_canary()
    response = owner_client.post(f"/w/{personas.workspace.public_id}/custom-apis/", {
        "name": "Billing", "auth_type": "basic", "username": user, "credential": password,
        "domain": "https://bad/", "docs_url": "https://docs.example.com/",
        "scope": "organization"})
    html = response.content.decode()
    assert "Enter just the host name" in html
    assert 'value="Billing"' in html and 'value="https://docs.example.com/"' in html
    assert user not in html and password not in html
    assert not CustomApi.objects.exists()


def test_custom_api_collision_message_names_the_other(owner_client, personas):
    vault.create_custom_api(personas.workspace, actor=personas.owner, name="My Billing API",
                            auth_type="bearer", credential="x")
    response = owner_client.post(f"/w/{personas.workspace.public_id}/custom-apis/", {
        "name": "my-billing api", "auth_type": "bearer", "credential": "y",
        "scope": "organization"})
    html = response.content.decode()
    assert "The Custom API “My Billing API”" in html
    assert "already uses CUSTOM_API_MY_BILLING_API" in html


def test_custom_api_create_list_edit(owner_client, personas):
    ws = personas.workspace.public_id
    canary = new_canary()
    response = owner_client.post(f"/w/{ws}/custom-apis/", {
        "name": "Twilio SMS", "auth_type": "api_key", "credential": canary,
        "domain": "api.twilio.com", "docs_url": "https://www.twilio.com/docs",
        "scope": personas.app.public_id}, follow=True)
    html = response.content.decode()
    assert "CUSTOM_API_TWILIO_SMS" in html and "App: Storefront" in html
    assert "api.twilio.com" in html and "https://www.twilio.com/docs" in html
    assert canary not in html
    api = CustomApi.objects.get()
    edit = owner_client.get(f"/w/{ws}/custom-apis/{api.public_id}/").content.decode()
    assert 'name="credential"' not in edit and canary not in edit
    owner_client.post(f"/w/{ws}/custom-apis/{api.public_id}/", {
        "name": "Twilio Messaging", "domain": "", "docs_url": "", "scope": "organization"})
    api.refresh_from_db()
    assert (api.env_var, api.app, api.domain) == ("CUSTOM_API_TWILIO_MESSAGING", None, "")


def test_custom_api_delete_warns_about_the_variable(owner_client, personas, vault_data):
    api = vault_data.apis["api_key"]
    url = f"/w/{personas.workspace.public_id}/custom-apis/{api.public_id}/delete/"
    html = owner_client.get(url).content.decode()
    assert "CUSTOM_API_API_KEY_SERVICE" in html and "loses access" in html
    owner_client.post(url)
    assert not CustomApi.objects.filter(pk=api.pk).exists()


def test_nav_links_to_secrets_and_custom_apis(owner_client, personas):
    html = owner_client.get(f"/w/{personas.workspace.public_id}/apps/").content.decode()
    assert f'href="/w/{personas.workspace.public_id}/secrets/"' in html
    assert f'href="/w/{personas.workspace.public_id}/custom-apis/"' in html


def test_list_pages_have_a_query_ceiling(owner_client, personas, django_assert_max_num_queries):
    ws = personas.workspace
    users = [personas.owner, personas.admin]
    for i in range(15):
        app = make_app(ws, personas.owner, f"App {i}")
        vault.set_secret(ws, f"WS_{i}", "v", actor=users[i % 2])
        vault.set_secret(ws, f"APP_{i}", "v", actor=users[i % 2], app=personas.app)
        vault.create_custom_api(ws, actor=users[i % 2], name=f"Api {i}", auth_type="bearer",
                                credential="x", app=app if i % 2 else None)
    for i in range(5):
        vault.set_secret(ws, "WS_0", f"v{i}", actor=users[i % 2])
    base = f"/w/{ws.public_id}"
    for url in (f"{base}/secrets/", f"{base}/secrets/apps/{personas.app.public_id}/",
                f"{base}/secrets/WS_0/", f"{base}/custom-apis/"):
        with django_assert_max_num_queries(14):
            assert owner_client.get(url).status_code == 200


def test_list_endpoints_have_a_query_ceiling(api, personas, django_assert_max_num_queries):
    ws = personas.workspace
    for i in range(15):
        vault.set_secret(ws, f"WS_{i}", "v", actor=personas.owner)
        vault.create_custom_api(ws, actor=personas.admin, name=f"Api {i}", auth_type="bearer",
                                credential="x", app=personas.app if i % 2 else None)
    client = api(personas.member)
    for url in (f"/api/v1/workspaces/{ws.public_id}/secrets/",
                f"/api/v1/workspaces/{ws.public_id}/custom-apis/"):
        with django_assert_max_num_queries(8):
            assert client.get(url).status_code == 200


def test_custom_apis_section_tag_for_the_integrations_page(personas, vault_data):
    """`{% custom_apis_section %}` (included by the Integrations page) lists every Custom API
    of the workspace, both scopes, with its variable; never a credential; the manage link is
    worded for the role."""
    from django.template import Context, Template

    from workspaces.models import Membership

    tpl = Template("{% load vault_tags %}{% custom_apis_section %}")
    for user, manage in ((personas.member, False), (personas.admin, True)):
        m = Membership.objects.get(workspace=personas.workspace, user=user)
        html = tpl.render(Context({"workspace": personas.workspace, "membership": m}))
        assert 'data-testid="custom-apis-section"' in html
        for api in vault_data.apis.values():
            assert api.name in html and api.env_var in html
        assert "App: Storefront" in html and "Organization" in html
        assert ("Add or manage Custom APIs" in html) is manage
        assert not any(c in html for c in vault_data.all) and "gAAAAA" not in html
    assert "custom-apis-section" not in tpl.render(Context({}))  # outside a workspace page


def test_custom_api_edit_error_keeps_what_was_typed(owner_client, personas, vault_data):
    api = vault_data.apis["api_key"]
    url = f"/w/{personas.workspace.public_id}/custom-apis/{api.public_id}/"
    response = owner_client.post(url, {"name": "Typed New Name", "domain": "not a host",
                                       "docs_url": "https://typed.example/docs",
                                       "scope": personas.app.public_id})
    html = response.content.decode()
    assert response.status_code == 200 and "Enter a host name like api.example.com" in html
    assert 'value="Typed New Name"' in html and 'value="https://typed.example/docs"' in html
    assert f'value="{personas.app.public_id}" selected' in html
    api.refresh_from_db()
    assert (api.name, api.app_id) == ("api_key service", None)
    assert vault_data.canaries["api_key"] not in html
