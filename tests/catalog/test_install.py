"""Using an integration: pick an app, give each secret's value (or keep the app's), values go to
the app's vault secrets and never into the catalog; the app's page and the service-role API list
what is installed with variable names (never values)."""

from __future__ import annotations

import pytest
from django.db import connection

from catalog import services
from catalog.models import Installation
from secrets_vault import services as vault
from tests.catalog.conftest import make_integration
from tests.factories import make_app
from workspaces.models import AuditEntry

pytestmark = pytest.mark.django_db

VALUE = "sk-live-CANARY-0123456789abcdef"


def catalog_tables_contain(value: str) -> list[str]:
    """Every catalog table (and the audit log) scanned as text for the value."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            if not (table.startswith("catalog_") or table == "workspaces_auditentry"):
                continue
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - table names from introspection
            if any(value in str(row) for row in cursor.fetchall()):
                found.append(table)
    return found


def use_url(p, integration, app=None) -> str:  # type: ignore[no-untyped-def]
    url = f"/w/{p.workspace.public_id}/catalog/{integration.public_id}/use/"
    return f"{url}?app={app.public_id}" if app else url


def test_install_stores_the_value_in_the_vault_never_in_the_catalog(client, personas):
    integration = make_integration(personas.workspace, personas.member, visibility="private")
    client.force_login(personas.admin)
    page = client.get(use_url(personas, integration, personas.app)).content.decode()
    assert 'name="value__OPENAI_API_KEY"' in page and 'type="password"' in page
    response = client.post(use_url(personas, integration),
                           {"app": personas.app.public_id, "value__OPENAI_API_KEY": VALUE})
    assert response.status_code == 302
    assert response.url == f"/w/{personas.workspace.public_id}/apps/{personas.app.public_id}/" \
                           "integrations/"
    secret = vault.get_secret(personas.workspace, "OPENAI_API_KEY", app=personas.app)
    assert vault.reveal(secret) == VALUE
    assert secret.description == "Your OpenAI secret API key (starts with sk-...)"
    assert Installation.objects.filter(app=personas.app, integration=integration).exists()
    assert catalog_tables_contain(VALUE) == []
    entry = AuditEntry.objects.get(action="catalog.install")
    assert entry.changes["secrets"] == {"OPENAI_API_KEY": "changed"}
    # one change, one entry: the install's entry covers the value it stored
    assert not AuditEntry.objects.filter(action__startswith="secret.").exists()
    page = client.get(response.url).content.decode()
    assert "OPENAI_API_KEY" in page and ">set<" in page and VALUE not in page


def test_an_existing_value_is_offered_for_reuse_and_kept(client, personas):
    vault.set_secret(personas.workspace, "OPENAI_API_KEY", "sk-old", actor=personas.owner,
                     app=personas.app)
    integration = make_integration(personas.workspace, personas.member, visibility="private")
    client.force_login(personas.admin)
    page = client.get(use_url(personas, integration, personas.app)).content.decode()
    assert "Keep this app&#x27;s current value (a value typed below replaces it)" in page
    # typing a key unticks the box (static/js/forms.js); the server lets a typed key win anyway
    assert 'data-unticks="id_reuse__OPENAI_API_KEY"' in page
    assert 'id="id_reuse__OPENAI_API_KEY"' in page
    assert "js/forms.js" in page
    assert "sk-old" not in page
    client.post(use_url(personas, integration), {"app": personas.app.public_id,
                                                 "reuse__OPENAI_API_KEY": "on"})
    secret = vault.get_secret(personas.workspace, "OPENAI_API_KEY", app=personas.app)
    assert vault.reveal(secret) == "sk-old" and secret.version == 1


def test_typing_a_new_value_replaces_the_app_value(client, personas):
    vault.set_secret(personas.workspace, "OPENAI_API_KEY", "sk-old", actor=personas.owner,
                     app=personas.app)
    integration = make_integration(personas.workspace, personas.member, visibility="private")
    client.force_login(personas.admin)
    client.post(use_url(personas, integration), {"app": personas.app.public_id,
                                                 "reuse__OPENAI_API_KEY": "on",
                                                 "value__OPENAI_API_KEY": "sk-new"})
    secret = vault.get_secret(personas.workspace, "OPENAI_API_KEY", app=personas.app)
    assert vault.reveal(secret) == "sk-new" and secret.version == 2


def test_a_workspace_secret_counts_as_set_for_the_app(personas):
    vault.set_secret(personas.workspace, "OPENAI_API_KEY", "sk-ws", actor=personas.owner,
                     app=None)  # a workspace-wide secret
    integration = make_integration(personas.workspace, personas.member, visibility="private")
    _, missing = services.install_integration(personas.app, integration, actor=personas.admin,
                                              values={})
    assert missing == []
    [row] = services.installed_for_app(personas.app)
    assert [(s.name, s.is_set) for s in row["secrets"]] == [("OPENAI_API_KEY", True)]


def test_leaving_values_empty_installs_and_reports_them_missing(client, personas):
    integration = make_integration(personas.workspace, personas.member, visibility="private")
    client.force_login(personas.admin)
    response = client.post(use_url(personas, integration), {"app": personas.app.public_id},
                           follow=True)
    page = response.content.decode()
    assert "Still missing: OPENAI_API_KEY" in page
    assert 'data-testid="secret-status">missing<' in page
    assert vault.secret_names(personas.workspace, personas.app) == []


def test_members_install_into_their_own_app_but_cannot_write_secret_values(client, api,
                                                                            personas):
    own_app = make_app(personas.workspace, personas.member, "Member's app")
    integration = make_integration(personas.workspace, personas.owner, visibility="private")
    client.force_login(personas.member)
    page = client.get(use_url(personas, integration, own_app)).content.decode()
    assert 'name="value__OPENAI_API_KEY"' not in page and "Only workspace admins" in page
    assert client.get(use_url(personas, integration, personas.app)).status_code == 403
    client.post(use_url(personas, integration), {"app": own_app.public_id,
                                                 "value__OPENAI_API_KEY": VALUE})
    assert Installation.objects.filter(app=own_app).exists()
    assert vault.secret_names(personas.workspace, own_app) == []
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/apps/{own_app.public_id}/" \
          "catalog-installations/"
    response = api(personas.member).post(url, {"integration": integration.public_id,
                                               "secrets": {"OPENAI_API_KEY": VALUE}},
                                         format="json")
    assert response.status_code == 403
    assert vault.secret_names(personas.workspace, own_app) == []


def test_public_integrations_install_into_other_workspaces(client, approved, personas):
    client.force_login(personas.outsider)
    ows = personas.outsider_workspace.public_id
    response = client.post(f"/w/{ows}/catalog/{approved.public_id}/use/",
                           {"app": personas.outsider_app.public_id,
                            "value__OPENAI_API_KEY": VALUE})
    assert response.status_code == 302
    secret = vault.get_secret(personas.outsider_workspace, "OPENAI_API_KEY",
                              app=personas.outsider_app)
    assert vault.reveal(secret) == VALUE
    # ...and never into an app of another workspace
    response = client.post(f"/w/{ows}/catalog/{approved.public_id}/use/",
                           {"app": personas.app.public_id, "value__OPENAI_API_KEY": "x"})
    assert response.status_code == 404


def test_private_integrations_cannot_be_installed_elsewhere(personas):
    private = make_integration(personas.workspace, personas.member, visibility="private")
    with pytest.raises(services.ServiceError):
        services.install_integration(personas.outsider_app, private, actor=personas.outsider,
                                     values={})


def test_a_vault_refusal_installs_nothing(personas):
    integration = make_integration(personas.workspace, personas.member, visibility="private")
    with pytest.raises(services.ServiceError):
        services.install_integration(personas.app, integration, actor=personas.admin,
                                     values={"OPENAI_API_KEY": "x" * 70_000})
    assert not Installation.objects.exists()


def test_the_app_page_lists_installs_and_uninstalls(client, personas):
    integration = make_integration(personas.workspace, personas.member, visibility="private")
    inst, _ = services.install_integration(personas.app, integration, actor=personas.owner,
                                           values={"OPENAI_API_KEY": VALUE})
    client.force_login(personas.member)
    url = f"/w/{personas.workspace.public_id}/apps/{personas.app.public_id}/integrations/"
    page = client.get(url).content.decode()
    assert "OpenAI Text to Image" in page and "private catalog" in page and VALUE not in page
    assert client.post(url, {"installation": inst.public_id}).status_code == 403
    client.force_login(personas.admin)
    assert client.post(url, {"installation": inst.public_id}).status_code == 302
    assert not Installation.objects.exists()
    # the secret stays in the app
    assert vault.secret_names(personas.workspace, personas.app) == ["OPENAI_API_KEY"]


def test_api_install_and_list(api, personas, approved):
    client = api(personas.outsider)
    url = f"/api/v1/workspaces/{personas.outsider_workspace.public_id}/apps/" \
          f"{personas.outsider_app.public_id}/catalog-installations/"
    response = client.post(url, {"integration": approved.public_id,
                                 "secrets": {"OPENAI_API_KEY": VALUE}}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["secrets"] == [{"name": "OPENAI_API_KEY", "description": body["secrets"][0][
        "description"], "how_to_get": "https://platform.openai.com/account/api-keys",
        "is_set": True}]
    assert VALUE not in response.content.decode()
    listed = client.get(url).json()
    assert [r["slug"] for r in listed] == ["openai-text-to-image"]
    missing = client.post(url, {"integration": "0" * 24}, format="json")
    assert missing.status_code == 404


def test_service_role_api_serves_prompts_and_variable_names_never_values(sdk, personas):
    integration = make_integration(personas.workspace, personas.member, visibility="private")
    services.install_integration(personas.app, integration, actor=personas.owner,
                                 values={"OPENAI_API_KEY": VALUE})
    url = f"/api/apps/{personas.app.public_id}/catalog-integrations"
    response = sdk(personas.app).get(url)
    assert response.status_code == 200
    [item] = response.json()
    assert item["slug"] == "openai-text-to-image"
    assert "Deno.serve" in item["prompt"]
    assert item["variables"][0]["name"] == "OPENAI_API_KEY" and item["variables"][0]["is_set"]
    assert VALUE not in response.content.decode()
    assert sdk(None).get(url).status_code == 401
    assert sdk(personas.app, "end-user-1").get(url).status_code == 403
    assert sdk(personas.outsider_app).get(url).status_code == 404


def test_api_refuses_values_for_secrets_the_integration_does_not_declare(api, personas):
    integration = make_integration(personas.workspace, personas.member, visibility="private")
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/apps/{personas.app.public_id}/" \
          "catalog-installations/"
    response = api(personas.admin).post(url, {
        "integration": integration.public_id,
        "secrets": {"OPENAI_API_KEY": VALUE, "OPENAI_APIKEY": VALUE}}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "unknown_secret"
    assert "OPENAI_APIKEY" in body["detail"] and "It needs: OPENAI_API_KEY" in body["detail"]
    assert VALUE not in response.content.decode()
    assert not Installation.objects.exists()
    assert vault.secret_names(personas.workspace, personas.app) == []  # nothing half-stored


def test_the_api_takes_values_as_long_as_the_dashboard_and_the_vault_do(api, personas):
    """The install endpoint's value limit is the vault's (as on the dashboard form), not a
    smaller one of its own."""
    integration = make_integration(personas.workspace, personas.member, visibility="private")
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/apps/{personas.app.public_id}/" \
          "catalog-installations/"
    long_value = "k" * 20_000
    response = api(personas.admin).post(url, {"integration": integration.public_id,
                                              "secrets": {"OPENAI_API_KEY": long_value}},
                                        format="json")
    assert response.status_code == 201, response.content[:300]
    assert long_value not in response.content.decode()
    assert vault.secret_names(personas.workspace, personas.app) == ["OPENAI_API_KEY"]


def test_the_app_page_has_a_query_ceiling(client, personas, django_assert_max_num_queries):
    """No query per installed integration (who installed it, its content, its secrets)."""
    for n in range(6):
        integration = make_integration(personas.workspace, personas.member, slug=f"i{n}",
                                       visibility="private")
        services.install_integration(personas.app, integration, actor=personas.owner,
                                     values={})
    client.force_login(personas.member)
    url = f"/w/{personas.workspace.public_id}/apps/{personas.app.public_id}/integrations/"
    with django_assert_max_num_queries(14):
        response = client.get(url)
    assert response.status_code == 200
    assert response.content.decode().count(f"by {personas.owner.email}") == 6
