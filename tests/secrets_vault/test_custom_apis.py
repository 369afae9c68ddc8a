"""Custom APIs: variable names, collisions, auth headers, edit rules, audit."""

from __future__ import annotations

import base64

import pytest
from django.core.exceptions import ValidationError

from secrets_vault import naming
from secrets_vault import services as vault
from tests.factories import make_app
from workspaces.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name,expected", [
    ("My Billing API", "CUSTOM_API_MY_BILLING_API"),
    ("Twilio SMS", "CUSTOM_API_TWILIO_SMS"),
    ("Internal Auth Service", "CUSTOM_API_INTERNAL_AUTH_SERVICE"),
    ("internal  auth--service", "CUSTOM_API_INTERNAL_AUTH_SERVICE"),
    ("Twilio (SMS)", "CUSTOM_API_TWILIO_SMS"),
    ("  v2 / payments.io ", "CUSTOM_API_V2_PAYMENTS_IO"),
    ("snake_case__name", "CUSTOM_API_SNAKE_CASE_NAME"),
    ("Café API", "CUSTOM_API_CAF_API"),
    ("3scale", "CUSTOM_API_3SCALE"),
])
def test_variable_name_derivation(name, expected):
    assert naming.custom_api_env_var(name) == expected


def test_a_name_without_letters_or_digits_is_refused():
    with pytest.raises(ValidationError):
        naming.custom_api_env_var("!!! ---")


def create(p, name="My Billing API", app=None, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("auth_type", "bearer")
    kw.setdefault("credential", "tok")
    return vault.create_custom_api(p.workspace, actor=p.owner, name=name, app=app, **kw)


def test_same_variable_in_the_same_scope_is_refused_naming_the_other(personas):
    create(personas, "My Billing API")
    with pytest.raises(vault.VaultError) as exc:
        create(personas, "my billing-api")
    assert "“My Billing API”" in exc.value.message
    assert "CUSTOM_API_MY_BILLING_API" in exc.value.message and exc.value.field == "name"
    create(personas, "My Billing API", app=personas.app)  # app scope: allowed, overrides
    with pytest.raises(vault.VaultError, match="My Billing API"):
        create(personas, "MY BILLING API", app=personas.app)
    create(personas, "My Billing API", app=make_app(personas.workspace, personas.owner, "Two"))


def test_auth_header_variable_overlap_is_refused(personas):
    create(personas, "Foo")
    with pytest.raises(vault.VaultError) as exc:
        create(personas, "Foo Auth Header", app=personas.app)
    assert "CUSTOM_API_FOO_AUTH_HEADER" in exc.value.message and "“Foo”" in exc.value.message
    create(personas, "Bar Auth Header", app=personas.app)
    with pytest.raises(vault.VaultError, match="Bar Auth Header"):
        create(personas, "Bar")
    vault.create_custom_api(personas.outsider_workspace, actor=personas.outsider, name="Bar",
                            auth_type="bearer", credential="x")  # another workspace: fine


def test_environment_variables_and_headers(personas):
    create(personas, "Key API", auth_type="api_key", credential="sk_123abc")
    create(personas, "Token API", auth_type="bearer", credential="token123")
    create(personas, "Basic API", auth_type="basic", username="user", credential="pa:ss")
    env = vault.environment_for_app(personas.app)
    assert env["CUSTOM_API_KEY_API"] == "sk_123abc"
    assert env["CUSTOM_API_KEY_API_AUTH_HEADER"] == "sk_123abc"
    assert env["CUSTOM_API_TOKEN_API"] == "token123"
    assert env["CUSTOM_API_TOKEN_API_AUTH_HEADER"] == "Bearer token123"
    assert env["CUSTOM_API_BASIC_API"] == "user:pa:ss"
    assert env["CUSTOM_API_BASIC_API_AUTH_HEADER"] == \
        "Basic " + base64.b64encode(b"user:pa:ss").decode()
    assert naming.auth_header("api_key", "k") == ("X-API-Key", "k")


def test_app_scoped_custom_api_overrides_the_organization_one(personas):
    create(personas, "Billing", credential="org")
    create(personas, "Billing", app=personas.app, credential="mine")
    other = make_app(personas.workspace, personas.owner, "Other")
    assert vault.environment_for_app(personas.app)["CUSTOM_API_BILLING"] == "mine"
    assert vault.environment_for_app(other)["CUSTOM_API_BILLING"] == "org"
    create(personas, "Only Mine", app=personas.app)
    assert "CUSTOM_API_ONLY_MINE" not in vault.environment_for_app(other)


@pytest.mark.parametrize("kw,field", [
    ({"credential": ""}, "credential"),
    ({"credential": "a\r\nX-Evil: 1"}, "credential"),
    ({"auth_type": "basic", "username": "", "credential": "p"}, "username"),
    ({"auth_type": "basic", "username": "a:b", "credential": "p"}, "username"),
    ({"auth_type": "nope"}, "auth_type"),
    ({"domain": "https://api.example.com/v1"}, "domain"),
    ({"domain": "not a host"}, "domain"),
    ({"domain": "10.0.0.1"}, "domain"),
    ({"docs_url": "ftp://example.com/"}, "docs_url"),
    ({"docs_url": "javascript:alert(1)"}, "docs_url"),
    ({"name": "   "}, "name"),
])
def test_invalid_input(personas, kw, field):
    kw = {"name": "Valid", **kw}
    with pytest.raises(vault.VaultError) as exc:
        create(personas, **kw)
    assert exc.value.field == field


def test_domain_is_normalised(personas):
    assert create(personas, domain=" API.Example.com. ").domain == "api.example.com"


def test_edit_changes_metadata_and_scope_not_credentials(personas):
    api = create(personas, "Old Name", credential="secret-cred")
    api = vault.update_custom_api(api, actor=personas.admin, name="New Name",
                                  domain="api.new.example", docs_url="https://d.example/",
                                  app=personas.app)
    assert (api.env_var, api.app, api.domain) == ("CUSTOM_API_NEW_NAME", personas.app,
                                                  "api.new.example")
    assert vault.environment_for_app(personas.app)["CUSTOM_API_NEW_NAME"] == "secret-cred"
    entry = AuditEntry.objects.filter(action="custom_api.update").get()
    assert entry.changes["name"] == {"from": "Old Name", "to": "New Name"}
    assert "secret-cred" not in str(list(AuditEntry.objects.values()))
    with pytest.raises(TypeError):
        vault.update_custom_api(api, actor=personas.admin, credential="x")  # type: ignore[call-arg]


def test_edit_into_a_collision_is_refused(personas):
    create(personas, "Alpha")
    beta = create(personas, "Beta")
    with pytest.raises(vault.VaultError, match="Alpha"):
        vault.update_custom_api(beta, actor=personas.owner, name="alpha")
    vault.update_custom_api(beta, actor=personas.owner, name="alpha", app=personas.app)


def test_delete_and_recreate_keeps_the_variable(personas):
    api = create(personas, "Rotate Me", credential="old")
    vault.delete_custom_api(api, actor=personas.owner)
    assert "CUSTOM_API_ROTATE_ME" not in vault.environment_for_app(personas.app)
    create(personas, "Rotate Me", credential="new")
    assert vault.environment_for_app(personas.app)["CUSTOM_API_ROTATE_ME"] == "new"
    actions = list(AuditEntry.objects.filter(target_type="custom_api").order_by("id")
                   .values_list("action", flat=True))
    assert actions == ["custom_api.create", "custom_api.delete", "custom_api.create"]
