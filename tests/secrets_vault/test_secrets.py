"""Secret rules: names, versions and history, the resolution rule, audit, system secrets."""

from __future__ import annotations

import pytest

from secrets_vault import services as vault
from secrets_vault.models import Secret, SecretVersion
from tests.factories import make_app
from workspaces.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["STRIPE_KEY", "_PRIVATE", "A1", "X" * 100])
def test_valid_names(personas, name):
    assert vault.create_secret(personas.workspace, name, "v", actor=personas.owner).name == name


@pytest.mark.parametrize("name,fragment", [
    ("stripe_key", "upper-case"), ("1ABC", "upper-case"), ("A-B", "upper-case"),
    ("", "name"), ("X" * 101, "100"), ("__X", "reserved"), ("CUSTOM_API_X", "Custom API"),
])
def test_invalid_names(personas, name, fragment):
    with pytest.raises(vault.VaultError) as exc:
        vault.create_secret(personas.workspace, name, "v", actor=personas.owner)
    assert fragment in exc.value.message and exc.value.field == "name"


def test_empty_value_is_refused(personas):
    with pytest.raises(vault.VaultError, match="Enter a value"):
        vault.create_secret(personas.workspace, "EMPTY", "", actor=personas.owner)


def test_names_are_unique_per_scope(personas):
    ws, app = personas.workspace, personas.app
    vault.create_secret(ws, "TOKEN", "a", actor=personas.owner)
    vault.create_secret(ws, "TOKEN", "b", actor=personas.owner, app=app)  # another scope
    with pytest.raises(vault.VaultError) as exc:
        vault.create_secret(ws, "TOKEN", "c", actor=personas.owner)
    assert exc.value.code == "duplicate" and "already exists" in exc.value.message
    vault.create_secret(personas.outsider_workspace, "TOKEN", "d", actor=personas.outsider)
    assert Secret.objects.filter(name="TOKEN").count() == 3


def test_replacing_raises_the_version_and_keeps_history(personas):
    ws = personas.workspace
    vault.set_secret(ws, "ROTATING", "one", actor=personas.owner, description="first")
    vault.set_secret(ws, "ROTATING", "two", actor=personas.admin)
    secret = vault.set_secret(ws, "ROTATING", "three", actor=personas.owner,
                              description="third")
    assert secret.version == 3 and secret.description == "third"
    assert secret.set_by == personas.owner.email
    history = list(secret.versions.values_list("version", "action", "set_by_label"))
    assert history == [(3, "replaced", personas.owner.email), (2, "replaced", personas.admin.email),
                       (1, "created", personas.owner.email)]
    assert vault.resolve_value(ws, "ROTATING") == "three"
    assert not hasattr(SecretVersion, "value")  # old values are not kept


def test_description_none_keeps_it(personas):
    vault.set_secret(personas.workspace, "D", "1", actor=personas.owner, description="keep")
    assert vault.set_secret(personas.workspace, "D", "2", actor=personas.owner).description == \
        "keep"


def test_app_secret_overrides_workspace_secret(personas):
    ws, app = personas.workspace, personas.app
    other = make_app(ws, personas.owner, "Other")
    vault.set_secret(ws, "API_URL", "workspace", actor=personas.owner)
    vault.set_secret(ws, "API_URL", "app", actor=personas.owner, app=app)
    assert vault.resolve_value(ws, "API_URL", app) == "app"
    assert vault.resolve_value(ws, "API_URL", other) == "workspace"
    assert vault.resolve_value(ws, "API_URL") == "workspace"
    assert vault.resolve_value(ws, "MISSING", app) is None
    assert vault.environment_for_app(app)["API_URL"] == "app"
    assert vault.environment_for_app(other)["API_URL"] == "workspace"
    vault.delete_secret_named(ws, "API_URL", app=app, actor=personas.owner)
    assert vault.resolve_value(ws, "API_URL", app) == "workspace"


def test_app_of_another_workspace_is_refused(personas):
    with pytest.raises(ValueError):
        vault.set_secret(personas.workspace, "X", "v", app=personas.outsider_app,
                         actor=personas.owner)
    with pytest.raises(ValueError):
        vault.resolve_value(personas.workspace, "X", personas.outsider_app)


def test_every_change_is_audited_without_the_value(personas):
    ws = personas.workspace
    vault.set_secret(ws, "AUDITED", "value-one", actor=personas.owner)
    vault.set_secret(ws, "AUDITED", "value-two", actor=personas.admin, app=None)
    secret = vault.set_secret(ws, "AUDITED", "value-three", actor=personas.admin,
                              app=personas.app)
    vault.delete_secret(secret, actor=personas.owner)
    rows = list(AuditEntry.objects.filter(target_name="AUDITED").order_by("id").values(
        "action", "actor__email", "scope", "changes"))
    assert [(r["action"], r["actor__email"], r["scope"]) for r in rows] == [
        ("secret.create", personas.owner.email, "workspace"),
        ("secret.replace", personas.admin.email, "workspace"),
        ("secret.create", personas.admin.email, f"app:{personas.app.public_id}"),
        ("secret.delete", personas.owner.email, f"app:{personas.app.public_id}"),
    ]
    assert rows[1]["changes"] == {"value": "changed", "version": 2}
    assert "value-" not in str(list(AuditEntry.objects.values()))


def test_system_secrets_are_hidden_from_lists_and_env(personas):
    ws = personas.workspace
    vault.set_secret(ws, "__integration_header_7", "hdr", actor=None, kind="system",
                     actor_label="integrations")
    vault.set_secret(ws, "VISIBLE", "v", actor=personas.owner)
    assert vault.secret_names(ws) == ["VISIBLE"]
    assert "__integration_header_7" not in vault.environment_for_app(personas.app)
    assert vault.resolve_value(ws, "__integration_header_7") == "hdr"
    entry = AuditEntry.objects.get(target_name="__integration_header_7")
    assert entry.actor is None and entry.actor_label == "integrations"
    with pytest.raises(vault.VaultError):
        vault.set_secret(ws, "NOT_SYSTEM_STYLE", "x", actor=None, kind="system")


def test_catalog_facing_helpers(personas):
    ws, app = personas.workspace, personas.app
    vault.set_secret(ws, "WS_ONE", "1", actor=personas.owner)
    vault.set_secret(ws, "APP_ONE", "2", actor=personas.owner, app=app)
    assert vault.secret_names(ws, app=app) == ["APP_ONE"]
    assert vault.secret_names(ws) == ["WS_ONE"]
    assert vault.environment_names(app) == ["APP_ONE", "WS_ONE"]
