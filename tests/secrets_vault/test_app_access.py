"""Which apps' backends receive workspace-scope secrets and organization Custom APIs.

The rule: `GET functions/env` (service token only) returns workspace secrets and organization
Custom APIs only to apps with a workspace-secrets grant. An app created by an admin or owner is
granted on creation (audited); an app created by a plain member gets only its own app secrets
and app-scope Custom APIs until an admin grants it (dashboard or admin API, audited).
"""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps as django_apps

from secrets_vault import services as vault
from tests.conftest import ROLES, expect_for_role, login_as
from tests.secrets_vault.conftest import new_canary
from workspaces.models import App, AuditEntry, Role

pytestmark = pytest.mark.django_db


def grants():  # type: ignore[no-untyped-def]
    """The grant rows (looked up late, so the attack tests also run against code without them)."""
    return django_apps.get_model("secrets_vault", "AppSecretAccess").objects


def env_url(app: App) -> str:
    return f"/api/apps/{app.public_id}/functions/env"


def access_page_url(app: App) -> str:
    return f"/w/{app.workspace.public_id}/secrets/apps/{app.public_id}/access/"


def access_api_url(app: App) -> str:
    return f"/api/v1/workspaces/{app.workspace.public_id}/apps/{app.public_id}/secret-access/"


def members_app(api, personas) -> tuple[App, str]:  # type: ignore[no-untyped-def]
    """The attack: a plain member creates an app and mints its service token, both through the
    real admin API with their own personal access token."""
    client = api(personas.member)
    ws = personas.workspace.public_id
    created = client.post(f"/api/v1/workspaces/{ws}/apps/", {"name": "Member tool"},
                          format="json")
    assert created.status_code == 201, created.content
    app_id = created.json()["id"]
    minted = client.post(f"/api/v1/workspaces/{ws}/apps/{app_id}/service-tokens/",
                         {"name": "mine"}, format="json")
    assert minted.status_code == 201, minted.content
    return App.objects.get(public_id=app_id), minted.json()["token"]


def text(html: str) -> str:
    """What a reader sees: tags dropped, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace(" :", ":")


def read_env(client, app: App, token: str):  # type: ignore[no-untyped-def]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(env_url(app))


@pytest.fixture
def member_app(api, personas, vault_data):  # type: ignore[no-untyped-def]
    app, token = members_app(api, personas)
    own = new_canary()
    vault_data.canaries["member_app"] = own
    vault.set_secret(personas.workspace, "MEMBER_APP_KEY", own, app=app, actor=personas.admin)
    vault_data.canaries["member_app_api"] = new_canary()
    vault.create_custom_api(personas.workspace, actor=personas.admin, name="Member Scoped",
                            auth_type="bearer", credential=vault_data.canaries["member_app_api"],
                            app=app)
    return app, token


WORKSPACE_LABELS = ("ws", "ws_shared", "api_key", "basic_user", "basic_pass")


def test_members_app_gets_only_its_own_secrets(client, member_app, vault_data):
    from rest_framework.test import APIClient

    app, token = member_app
    response = read_env(APIClient(), app, token)
    assert response.status_code == 200, response.content
    env = response.json()["variables"]
    assert env == {
        "MEMBER_APP_KEY": vault_data.canaries["member_app"],
        "CUSTOM_API_MEMBER_SCOPED": vault_data.canaries["member_app_api"],
        "CUSTOM_API_MEMBER_SCOPED_AUTH_HEADER": f"Bearer {vault_data.canaries['member_app_api']}",
    }
    body = response.content.decode()
    for label in WORKSPACE_LABELS:
        assert vault_data.canaries[label] not in body, label
    # the audit names what was given out (no workspace variable)
    entry = AuditEntry.objects.filter(action="env.read", scope=f"app:{app.public_id}").get()
    assert "STRIPE_API_KEY" not in entry.changes["variables"]


def test_admin_created_app_keeps_workspace_secrets_and_the_grant_is_audited(
        api, personas, vault_data, sdk):
    created = api(personas.admin).post(
        f"/api/v1/workspaces/{personas.workspace.public_id}/apps/", {"name": "Admin tool"},
        format="json")
    app = App.objects.get(public_id=created.json()["id"])
    grant = grants().get(app=app)
    assert grant.granted_by == personas.admin and grant.reason == "created_by_admin"
    entry = AuditEntry.objects.get(action="app.workspace_secrets.grant", target_name="Admin tool")
    assert entry.actor == personas.admin and entry.scope == f"app:{app.public_id}"
    env = sdk(app).get(env_url(app)).json()["variables"]
    assert env["STRIPE_API_KEY"] == vault_data.canaries["ws"]
    assert env["CUSTOM_API_API_KEY_SERVICE"] == vault_data.canaries["api_key"]


def test_app_user_token_and_anonymous_cannot_read_the_environment(personas, sdk, vault_data):
    app = personas.app
    assert sdk(app, "end-user").get(env_url(app)).status_code == 403
    assert sdk(None).get(env_url(app)).status_code == 401
    assert sdk(personas.outsider_app).get(env_url(app)).status_code == 404
    # a portal user's personal access token is not the app's service role either
    from rest_framework.test import APIClient

    from workspaces import services as ws_services

    _, pat = ws_services.create_personal_token(actor=personas.owner, name="not an app")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {pat}")
    response = client.get(env_url(app))
    assert response.status_code in (401, 403)
    assert vault_data.canaries["ws"] not in response.content.decode()


def test_admin_grant_then_revoke_takes_effect_on_the_next_call(client, member_app, personas,
                                                               vault_data):
    from rest_framework.test import APIClient

    app, token = member_app
    sdk_client = APIClient()
    assert "STRIPE_API_KEY" not in read_env(sdk_client, app, token).json()["variables"]

    client.force_login(personas.admin)
    response = client.post(access_page_url(app), {"action": "grant"})
    assert response.status_code == 302
    env = read_env(sdk_client, app, token).json()["variables"]
    assert env["STRIPE_API_KEY"] == vault_data.canaries["ws"]
    assert env["CUSTOM_API_API_KEY_SERVICE"] == vault_data.canaries["api_key"]
    assert env["MEMBER_APP_KEY"] == vault_data.canaries["member_app"]
    grant = AuditEntry.objects.get(action="app.workspace_secrets.grant",
                                   scope=f"app:{app.public_id}")
    assert grant.actor == personas.admin

    page = client.get(f"/w/{personas.workspace.public_id}/apps/{app.public_id}/").content.decode()
    assert re.search(r"Has access to workspace secrets: granted by admin@example\.com on "
                     r"\w{3} \d{1,2}, \d{4}", text(page))

    response = client.post(access_page_url(app), {"action": "revoke"})
    assert response.status_code == 302
    env = read_env(sdk_client, app, token).json()["variables"]
    assert "STRIPE_API_KEY" not in env and "CUSTOM_API_API_KEY_SERVICE" not in env
    assert env["MEMBER_APP_KEY"] == vault_data.canaries["member_app"]
    revoke = AuditEntry.objects.get(action="app.workspace_secrets.revoke",
                                    scope=f"app:{app.public_id}")
    assert revoke.actor == personas.admin
    assert not any(c in str(revoke.changes) + str(grant.changes) for c in vault_data.all)


def test_revoking_an_admin_created_app_cuts_it_off_too(api, personas, sdk, vault_data):
    app = personas.app  # created by the owner: granted on creation
    client = sdk(app)
    assert "STRIPE_API_KEY" in client.get(env_url(app)).json()["variables"]
    response = api(personas.owner).delete(access_api_url(app))
    assert response.status_code == 200, response.content
    assert response.json()["granted"] is False
    env = client.get(env_url(app)).json()["variables"]
    assert "STRIPE_API_KEY" not in env and env["APP_ONLY_KEY"] == vault_data.canaries["app"]


@pytest.mark.parametrize("role", ROLES)
def test_only_admins_grant_on_the_page(client, personas, vault_data, api, role):
    app, _ = members_app(api, personas)
    login_as(client, personas, role)
    response = client.post(access_page_url(app), {"action": "grant"})
    expect_for_role(response, role, "admin", allowed=(302,))
    granted = grants().filter(app=app).exists()
    assert granted is (role in ("admin", "owner"))


@pytest.mark.parametrize("role", ROLES)
def test_only_admins_grant_through_the_api(personas, vault_data, api, role):
    app, _ = members_app(api, personas)
    user = None if role == "anonymous" else getattr(personas, role)
    response = api(user).post(access_api_url(app), {}, format="json")
    expect_for_role(response, role, "admin", allowed=(200, 201), anonymous=401)
    assert grants().filter(app=app).exists() is (role in ("admin", "owner"))
    if role in ("admin", "owner"):
        body = response.json()
        assert body["granted"] is True and body["granted_by"] == user.email
        assert AuditEntry.objects.filter(action="app.workspace_secrets.grant",
                                         actor=user).exists()


def test_member_cannot_revoke_an_admin_apps_grant(api, personas):
    response = api(personas.member).delete(access_api_url(personas.app))
    assert response.status_code == 403
    assert grants().filter(app=personas.app).exists()


def test_members_see_the_state_but_no_control(client, api, personas, vault_data):
    app, _ = members_app(api, personas)
    client.force_login(personas.member)
    page = client.get(f"/w/{personas.workspace.public_id}/apps/{app.public_id}/").content.decode()
    assert "Has access to workspace secrets: not granted" in text(page)
    assert 'value="grant"' not in page
    state = api(personas.member).get(access_api_url(app)).json()
    assert state == {"app": app.public_id, "granted": False, "granted_by": None,
                     "granted_at": None, "reason": None}
    client.force_login(personas.admin)
    page = client.get(f"/w/{personas.workspace.public_id}/apps/{app.public_id}/").content.decode()
    assert 'value="grant"' in page


def test_secrets_page_says_which_apps_see_workspace_secrets(client, api, personas, vault_data):
    app, _ = members_app(api, personas)
    client.force_login(personas.member)
    page = client.get(f"/w/{personas.workspace.public_id}/secrets/").content.decode()
    assert "Apps created by admins and owners, and apps an admin has granted access" in page
    assert "Storefront" in page.split('data-testid="granted-apps"')[1].split("</p>")[0]
    assert app.name not in page.split('data-testid="granted-apps"')[1].split("</p>")[0]
    tab = client.get(f"/w/{personas.workspace.public_id}/secrets/apps/{app.public_id}/")
    assert "does not receive workspace secrets" in tab.content.decode()


def test_catalog_install_does_not_report_ungranted_workspace_secrets_as_set(api, personas,
                                                                            vault_data):
    """A catalog integration whose secret exists only as a workspace secret: the member's app
    (not granted) sees it as missing, through the real service-role catalog endpoint, and no
    catalog path returns the value."""
    from rest_framework.test import APIClient

    from catalog import services as catalog
    from tests.catalog.conftest import make_integration

    canary = new_canary()
    vault.set_secret(personas.workspace, "OPENAI_API_KEY", canary, actor=personas.owner)
    integration = make_integration(personas.workspace, personas.member, visibility="private")
    app, token = members_app(api, personas)
    catalog.install_integration(app, integration, actor=personas.member, values={})
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.get(f"/api/apps/{app.public_id}/catalog-integrations")
    assert response.status_code == 200, response.content
    [item] = response.json()
    assert item["variables"][0]["name"] == "OPENAI_API_KEY"
    assert item["variables"][0]["is_set"] is False
    assert canary not in response.content.decode()
    assert canary not in read_env(client, app, token).content.decode()
    vault.grant_workspace_access(app, actor=personas.admin)
    [item] = client.get(f"/api/apps/{app.public_id}/catalog-integrations").json()
    assert item["variables"][0]["is_set"] is True


def test_data_migration_grants_only_apps_created_by_current_admins(personas, api):
    member_made, _ = members_app(api, personas)
    demoted = App.objects.create(workspace=personas.workspace, name="Old", created_by=None)
    grants().all().delete()
    migration = importlib.import_module(
        "secrets_vault.migrations.0002_app_workspace_secret_access")
    migration.grant_existing_admin_apps(django_apps, None)
    granted = set(grants().values_list("app__name", flat=True))
    assert "Storefront" in granted and "Rival" in granted  # created by owners
    assert member_made.name not in granted and demoted.name not in granted
    assert grants().get(app=personas.app).reason == "migration"


def test_role_change_does_not_silently_change_grants(api, personas, vault_data, sdk):
    """Promoting a member later does not grant their old apps (an admin decides per app)."""
    app, token = members_app(api, personas)
    personas.workspace.memberships.filter(user=personas.member).update(role=Role.ADMIN)
    assert not grants().filter(app=app).exists()
