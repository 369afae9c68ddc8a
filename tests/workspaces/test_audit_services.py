"""Every service that changes configuration writes exactly one audit entry, with the right
actor, target and field-level diff; secret values never reach an entry (canaries)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from catalog import services as catalog
from connectors import services as connectors
from integrations import services as integrations
from secrets_vault import services as vault
from tests.canary import scan_database
from tests.catalog.conftest import make_integration as make_catalog_integration
from tests.factories import UserFactory
from tests.integrations.wizard_support import make_integration
from tests.secrets_vault.conftest import new_canary
from workspaces import audit, services
from workspaces.models import AuditEntry, Invitation, Membership, Role

pytestmark = pytest.mark.django_db

SECRET_VALUES: list[str] = []


def secret() -> str:
    value = new_canary()
    SECRET_VALUES.append(value)
    return value


@dataclass
class Case:
    id: str
    run: Callable[[Any], Any]  # (personas) -> None: prepares, then calls the one service
    action: str
    target_type: str
    changes: dict[str, Any] | None = None  # exact diff expected (None: see `check`)
    actor: str = "owner"
    check: Callable[[AuditEntry], None] | None = None


def _prepared(prepare: Callable[[Any], Any], act: Callable[[Any, Any], Any]) -> Callable:
    """`prepare` runs before the entry count is taken; `act` is the call under test."""
    def run(p: Any) -> tuple[Callable[[], Any], Any]:
        state = prepare(p)
        return lambda: act(p, state)
    return run


def _one(act: Callable[[Any], Any]) -> Callable:
    return _prepared(lambda p: None, lambda p, _: act(p))


def _invitation(p: Any) -> Invitation:
    return services.invite(p.workspace, actor=p.owner, email="new@example.com")


def _joiner(p: Any) -> tuple[Invitation, Any]:
    return _invitation(p), UserFactory(email="new@example.com")


def _member_app(p: Any) -> Any:
    return services.create_app(p.workspace, actor=p.member, name="Members' app")


def _token(p: Any) -> Any:
    return services.create_service_token(p.app, actor=p.owner, name="deploy")[0]


def _pat(p: Any) -> Any:
    return services.create_personal_token(actor=p.owner, name="ci")[0]


def _secret(p: Any) -> Any:
    return vault.set_secret(p.workspace, "STRIPE_KEY", secret(), actor=p.owner)


def _custom_api(p: Any) -> Any:
    return vault.create_custom_api(p.workspace, actor=p.owner, name="Billing",
                                   auth_type="bearer", credential=secret())


def _integration(p: Any) -> Any:
    return make_integration(p.workspace, p.admin,
                            headers=[integrations.HeaderInput("X-Api-Key", secret())])


def _catalog(p: Any) -> Any:
    return make_catalog_integration(p.workspace, p.owner, visibility="public")


def _connector(p: Any) -> Any:
    return connectors.create_connector(
        p.workspace, actor=p.admin, name="Own", client_id="cid", client_secret=secret(),
        authorize_url="https://auth.example.com/authorize",
        token_url="https://auth.example.com/token", scopes="read")


def _submitted(p: Any) -> Any:
    return catalog.submit_for_review(_catalog(p), actor=p.owner)


def _reviewer_and_revision(p: Any) -> Any:
    return UserFactory(email="reviewer@example.com", is_staff=True), _submitted(p)


CASES = [
    # --- workspaces -------------------------------------------------------------------------
    Case("workspace.rename", _one(lambda p: services.update_workspace(
        p.workspace, actor=p.owner, name="Acme Corp")), "workspace.update", "workspace",
        {"name": {"from": "Acme", "to": "Acme Corp"}}),
    Case("plan", _one(lambda p: services.change_plan(p.workspace, actor=p.owner, plan="pro")),
         "workspace.plan_changed", "workspace",
         {"plan": {"from": "builder", "to": "pro"}, "credits_granted": 8000}),
    Case("invite", _one(_invitation), "member.invite", "invitation",
         {"email": {"from": None, "to": "new@example.com"},
          "role": {"from": None, "to": "member"}}),
    Case("invitation.revoke", _prepared(_invitation, lambda p, inv: services.revoke_invitation(
        inv, actor=p.owner)), "member.invitation_revoke", "invitation",
        {"email": {"from": "new@example.com", "to": None}, "role": {"from": "member", "to": None}}),
    Case("join", _prepared(_joiner, lambda p, s: services.accept_invitation(
        services.invitation_token(s[0]), actor=s[1])), "member.join", "member", None,
        actor="new@example.com",
        check=lambda e: e.changes["role"] == {"from": None, "to": "member"}),
    Case("role", _one(lambda p: services.change_role(
        Membership.objects.get(workspace=p.workspace, user=p.member), actor=p.owner,
        role=Role.ADMIN)), "member.role_change", "member",
        {"role": {"from": "member", "to": "admin"}}),
    Case("remove", _one(lambda p: services.remove_member(
        Membership.objects.get(workspace=p.workspace, user=p.member), actor=p.owner)),
        "member.remove", "member", {"role": {"from": "member", "to": None}}),
    Case("app.create", _one(_member_app), "app.create", "app",
         {"name": {"from": None, "to": "Members' app"},
          "allow_anonymous_integration_calls": {"from": None, "to": False}}, actor="member"),
    Case("app.rename", _one(lambda p: services.update_app(p.app, actor=p.owner, name="Shop")),
         "app.update", "app", {"name": {"from": "Storefront", "to": "Shop"}}),
    Case("app.anonymous", _one(lambda p: services.update_app(
        p.app, actor=p.admin, allow_anonymous_integration_calls=True)), "app.anonymous_calls",
        "app", {"allow_anonymous_integration_calls": {"from": False, "to": True}}, actor="admin"),
    Case("app.delete", _one(lambda p: services.delete_app(p.app, actor=p.owner)), "app.delete",
         "app", {"name": {"from": "Storefront", "to": None},
                 "allow_anonymous_integration_calls": {"from": False, "to": None}}),
    Case("app.user_tokens", _one(lambda p: services.revoke_all_app_user_tokens(
        p.app, actor=p.owner)), "app.user_tokens_revoked", "app", {"signing_key": "changed"}),
    Case("service_token.create", _one(_token), "service_token.create", "service_token", None,
         check=lambda e: e.changes["name"] == {"from": None, "to": "deploy"}
         and e.scope.startswith("app:")),
    Case("service_token.revoke", _prepared(_token, lambda p, t: services.revoke_service_token(
        t, actor=p.owner)), "service_token.revoke", "service_token",
        {"revoked": {"from": False, "to": True}}),
    Case("personal_token.create", _one(_pat), "personal_token.create", "personal_token", None,
         check=lambda e: e.changes["name"] == {"from": None, "to": "ci"}),
    Case("personal_token.revoke", _prepared(_pat, lambda p, t: services.revoke_personal_token(
        t, actor=p.owner)), "personal_token.revoke", "personal_token",
        {"revoked": {"from": False, "to": True}}),
    # --- secrets vault ----------------------------------------------------------------------
    Case("secret.create", _one(_secret), "secret.create", "secret",
         {"value": "set", "version": 1}),
    Case("secret.replace", _prepared(_secret, lambda p, s: vault.set_secret(
        p.workspace, "STRIPE_KEY", secret(), actor=p.owner)), "secret.replace", "secret",
        {"value": "changed", "version": 2}),
    Case("secret.delete", _prepared(_secret, lambda p, s: vault.delete_secret(
        s, actor=p.owner)), "secret.delete", "secret", {"version": 1}),
    Case("access.grant", _prepared(_member_app, lambda p, app: vault.grant_workspace_access(
        app, actor=p.owner)), "app.workspace_secrets.grant", "app", None),
    Case("custom_api.create", _one(_custom_api), "custom_api.create", "custom_api", None,
         check=lambda e: e.changes["credentials"] == "set"),
    Case("custom_api.update", _prepared(_custom_api, lambda p, a: vault.update_custom_api(
        a, actor=p.owner, name="Billing 2")), "custom_api.update", "custom_api", None,
        check=lambda e: e.changes["name"] == {"from": "Billing", "to": "Billing 2"}),
    Case("custom_api.delete", _prepared(_custom_api, lambda p, a: vault.delete_custom_api(
        a, actor=p.owner)), "custom_api.delete", "custom_api", None),
    # --- integrations -----------------------------------------------------------------------
    Case("integration.create", _one(_integration), "integration.create", "integration", None,
         actor="admin"),
    Case("integration.update", _prepared(_integration, lambda p, i: integrations.update_integration(
        i, actor=p.admin, name="Contacts 2", headers=[
            integrations.HeaderInput("X-Api-Key", secret())])), "integration.update",
        "integration", None, actor="admin"),
    Case("integration.delete", _prepared(_integration, lambda p, i: integrations.delete_integration(
        i, actor=p.admin)), "integration.delete", "integration", None, actor="admin"),
    # --- catalog ----------------------------------------------------------------------------
    Case("catalog.create", _one(_catalog), "catalog.create", "catalog_integration", None,
         check=lambda e: e.changes["visibility"] == {"from": None, "to": "public"}),
    Case("catalog.update", _prepared(_catalog, lambda p, c: catalog.update_integration(
        c, actor=p.owner, data={"name": "Images 2"})), "catalog.update", "catalog_integration",
        None, check=lambda e: e.changes["name"]["to"] == "Images 2"),
    Case("catalog.delete", _prepared(_catalog, lambda p, c: catalog.delete_integration(
        c, actor=p.owner)), "catalog.delete", "catalog_integration", None),
    Case("catalog.submit", _prepared(_catalog, lambda p, c: catalog.submit_for_review(
        c, actor=p.owner)), "catalog.submit", "catalog_integration", None),
    Case("catalog.withdraw", _prepared(_submitted, lambda p, r: catalog.withdraw_submission(
        r.integration, actor=p.owner)), "catalog.withdraw", "catalog_integration", None,
        check=lambda e: e.changes["state"] == {"from": "submitted", "to": "draft"}),
    Case("catalog.reject", _prepared(_reviewer_and_revision, lambda p, s: catalog.reject_submission(
        s[1], actor=s[0], comment="No")), "catalog.reject", "catalog_integration", None,
        actor="reviewer@example.com",
        check=lambda e: e.actor_kind == "staff_reviewer"
        and e.changes["state"]["from"] == "submitted"),
    # --- connectors -------------------------------------------------------------------------
    Case("connector.create", _one(_connector), "connector.registered", "workspace_connector",
         None, actor="admin", check=lambda e: e.changes["client_secret"] == "set"
         and e.changes["client_id"] == {"from": None, "to": "cid"}),
    Case("connector.update", _prepared(_connector, lambda p, c: connectors.update_connector(
        c, actor=p.admin, scopes="read write")), "connector.updated", "workspace_connector",
        {"scopes": {"from": "read", "to": "read write"}}, actor="admin"),
    Case("connector.rotate", _prepared(_connector, lambda p, c: connectors.rotate_client_secret(
        c, actor=p.admin, client_secret=secret())), "connector.secret_rotated",
        "workspace_connector", {"client_secret": "changed"}, actor="admin"),
    Case("connector.delete", _prepared(_connector, lambda p, c: connectors.delete_connector(
        c, actor=p.admin)), "connector.deleted", "workspace_connector",
        {"connections_removed": 0}, actor="admin"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_each_configuration_change_writes_exactly_one_entry(personas, case: Case):
    act = case.run(personas)
    last = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    act()
    new = list(AuditEntry.objects.filter(id__gt=last, workspace=personas.workspace))
    assert [e.action for e in new] == [case.action], [(e.action, e.changes) for e in new]
    entry = new[0]
    assert entry.target_type == case.target_type
    assert entry.target_name
    if case.changes is not None:
        assert entry.changes == case.changes
    if case.check is not None:
        assert case.check(entry), entry.changes
    expected = getattr(personas, case.actor, None)
    email = expected.email if expected is not None else case.actor
    assert entry.actor is not None and entry.actor.email == email
    assert email in entry.actor_label
    # nothing secret in any entry, whatever the service
    dump = str(list(AuditEntry.objects.values()))
    assert not [v for v in SECRET_VALUES if v in dump]


def test_a_refused_change_writes_nothing(personas):
    last = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    with pytest.raises(services.ServiceError):
        services.update_app(personas.app, actor=personas.member, name="Mine now",
                            allow_anonymous_integration_calls=True)
    with pytest.raises(services.ServiceError):
        services.change_role(Membership.objects.get(workspace=personas.workspace,
                                                    user=personas.owner),
                             actor=personas.admin, role=Role.MEMBER)
    assert not AuditEntry.objects.filter(id__gt=last).exists()


def test_no_change_no_entry(personas):
    last = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    services.update_app(personas.app, actor=personas.owner, name="Storefront")
    services.update_workspace(personas.workspace, actor=personas.owner, name="Acme")
    assert not AuditEntry.objects.filter(id__gt=last).exists()


def test_a_personal_token_acts_in_every_workspace_of_its_user(personas):
    other = services.create_workspace(actor=personas.owner, name="Second")
    token, _ = services.create_personal_token(actor=personas.owner, name="everywhere")
    rows = AuditEntry.objects.filter(action="personal_token.create", target_id=str(token.pk))
    assert sorted(r.workspace_id for r in rows) == sorted([personas.workspace.pk, other.pk])


def test_the_actor_names_the_personal_token_service_token_and_system(personas, api, sdk):
    ws = personas.workspace
    client = api(personas.admin)  # a personal token named "tests"
    response = client.patch(f"/api/v1/workspaces/{ws.public_id}/apps/{personas.app.public_id}/",
                            {"name": "Via API"}, format="json")
    assert response.status_code == 200, response.content
    entry = AuditEntry.objects.get(action="app.update")
    assert entry.actor == personas.admin and entry.actor_kind == "personal_token"
    assert entry.actor_label == "admin@example.com via token 'tests'"
    # a dashboard session is the user alone
    services.update_app(personas.app, actor=personas.admin, name="Via page")
    entry = AuditEntry.objects.filter(action="app.update").latest("id")
    assert entry.actor_kind == "user" and entry.actor_label == "admin@example.com"
    # a service token reading the environment, and the system (beat tasks, no user)
    assert sdk(personas.app).get(
        f"/api/apps/{personas.app.public_id}/functions/env").status_code == 200
    read = AuditEntry.objects.get(action="env.read")
    assert read.actor is None and read.actor_kind == "service_token"
    row = audit.record(ws, audit.SYSTEM, "test.system", personas.app)
    assert row.actor_kind == "system" and row.actor_label == "system"
    assert row.target_type == "app" and row.target_id == personas.app.public_id


@pytest.mark.parametrize("field", ["value", "client_secret", "password", "api_key",
                                   "access_token", "credentials", "Authorization"])
def test_record_never_keeps_a_secret_looking_value(personas, field):
    value = new_canary()
    row = audit.record(personas.workspace, personas.owner, "test.guard", personas.app,
                       {field: {"from": None, "to": value}, "name": {"from": "a", "to": "b"}})
    row.refresh_from_db()
    assert row.changes == {field: "changed", "name": {"from": "a", "to": "b"}}
    assert not scan_database([value])


def test_diff_marks_secret_fields_and_cuts_long_text():
    changes = audit.diff({"token": "a", "note": "x" * 2000, "same": 1},
                         {"token": "b", "note": "y", "same": 1}, secret=["note"])
    assert changes == {"token": "changed", "note": "changed"}
    long = audit.diff({"prompt": "x" * 2000}, {"prompt": "y"})["prompt"]["from"]
    assert len(long) == audit.MAX_TEXT and long.endswith("…")
    assert audit.diff(None, {"secret_value": "s"}) == {"secret_value": "set"}
    assert audit.diff({"secret_value": "s"}, None) == {"secret_value": "removed"}


def test_existing_rows_survive_the_actor_migration(personas):
    """The 0005 backfill: kinds from the old labels; an app-scoped entry gets its app's id."""
    from importlib import import_module

    from django.apps import apps as global_apps

    backfill = import_module("workspaces.migrations.0005_audit_actor_kind_target_id").backfill
    ws, app = personas.workspace, personas.app
    rows = [AuditEntry.objects.create(workspace=ws, actor=None, actor_label=label,
                                      action="old", target_type="app", target_name=app.name,
                                      scope=f"app:{app.public_id}", actor_kind="system")
            for label in ("service token sbs_ab_…", "app user 42", "migration")]
    user_row = AuditEntry.objects.create(workspace=ws, actor=personas.owner, action="old",
                                         target_type="workspace", target_name="Acme",
                                         actor_kind="system")
    backfill(global_apps, None)
    kinds = [AuditEntry.objects.get(pk=r.pk).actor_kind for r in rows]
    assert kinds == ["service_token", "app_user", "system"]
    assert all(AuditEntry.objects.get(pk=r.pk).target_id == app.public_id for r in rows)
    user_row.refresh_from_db()
    assert user_row.actor_kind == "user" and user_row.actor_label == personas.owner.email


def test_an_integration_refresh_writes_exactly_one_entry(personas):
    """Refresh from the URL (a real HTTP server on 127.0.0.1), then apply: one entry."""
    import json

    from tests.integrations.egress_support import Upstream
    from tests.integrations.wizard_support import CONTACTS_V1, contacts_v2, egress_to, serve

    upstream = Upstream()
    try:
        url = serve(upstream, "/audit/spec.json", json.dumps(CONTACTS_V1))
        with egress_to(upstream):
            spec_import = integrations.start_url_import(personas.workspace, actor=personas.admin,
                                                        url=url)
            integrations.run_import(spec_import.pk)
        spec_import.refresh_from_db()
        integration = make_integration(
            personas.workspace, personas.admin, spec_import=spec_import,
            keys=["get:/contacts", "post:/contacts", "delete:/contacts/{id}"])
        serve(upstream, "/audit/spec.json", json.dumps(contacts_v2()))
        with egress_to(upstream):
            refresh = integrations.start_refresh(integration, actor=personas.admin)
            integrations.run_import(refresh.pk)
        refresh.refresh_from_db()
        last = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first()
        integrations.apply_refresh(integration, refresh, actor=personas.admin)
    finally:
        upstream.close()
    new = list(AuditEntry.objects.filter(id__gt=last))
    assert [e.action for e in new] == ["integration.refresh"]
    assert new[0].changes["operations_removed"] == ["delete:/contacts/{id}"]
    assert new[0].target_id == integration.public_id and new[0].actor == personas.admin
