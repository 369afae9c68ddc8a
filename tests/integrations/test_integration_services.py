"""Service rules of integrations: creation, the 30-operation limit, headers and the vault, the
blocked save, edits, refresh with a diff, the periodic check, delete."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core import mail
from django.utils import timezone

from integrations import services
from integrations.models import CallLog, IntegrationHeader, SpecImport, WorkspaceIntegration
from integrations.services import HeaderInput
from secrets_vault.models import Secret
from tests.integrations.egress_support import Upstream
from tests.integrations.wizard_support import (
    CONTACTS_V1,
    canary,
    contacts_v2,
    egress_to,
    generated_spec,
    make_integration,
    ready_import,
    serve,
)
from workspaces.models import AuditEntry

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def upstream():  # type: ignore[no-untyped-def]
    server = Upstream()
    yield server
    server.close()


# --- sensitive headers --------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "Authorization", "authorization", "X-API-Key", "x-api-key", "Api-Key", "X-Auth-Token",
    "X-Access-Token", "X-Secret-Key", "X-Bearer", "Client-Secret", "X-Password",
    "X-Credential-Id", "X-Refresh-Token", "x_api_key", "Proxy-Authorization", "Cookie",
])
def test_sensitive_header_names(name):
    assert services.is_sensitive_header(name)


@pytest.mark.parametrize("name", ["Accept", "X-Request-Source", "User-Agent", "X-Tenant",
                                  "Content-Type", "X-Api-Version"])
def test_plain_header_names(name):
    assert not services.is_sensitive_header(name)


def test_sensitive_values_go_to_the_vault_and_resolve(personas):
    secret_value = canary()
    integration = make_integration(personas.workspace, personas.admin, headers=[
        HeaderInput("Authorization", f"Bearer {secret_value}"),
        HeaderInput("X-Tenant", "acme")])
    rows = {h.name: h for h in integration.headers.all()}
    assert rows["Authorization"].sensitive and rows["Authorization"].value == ""
    assert rows["Authorization"].secret_name.startswith(f"__integration_{integration.public_id}")
    assert not rows["X-Tenant"].sensitive and rows["X-Tenant"].value == "acme"
    secret = Secret.objects.get(name=rows["Authorization"].secret_name)
    assert secret.kind == "system" and secret.workspace == personas.workspace
    assert services.integration_headers(integration) == {
        "Authorization": f"Bearer {secret_value}", "X-Tenant": "acme"}
    # the audit log never holds a value
    for entry in AuditEntry.objects.all():
        assert secret_value not in json.dumps(entry.changes)
    assert AuditEntry.objects.filter(action="integration.create").exists()


def test_headers_keep_replace_and_delete(personas):
    first, second = canary(), canary()
    integration = make_integration(personas.workspace, personas.admin, headers=[
        HeaderInput("X-Api-Key", first), HeaderInput("X-Tenant", "acme")])
    version = integration.config_version
    old_secret = integration.headers.get(name="X-Api-Key").secret_name
    # keep the sensitive one (no value sent), change the plain one
    services.update_integration(integration, actor=personas.admin, headers=[
        HeaderInput("X-Api-Key"), HeaderInput("X-Tenant", "globex")])
    integration.refresh_from_db()
    assert services.integration_headers(integration) == {"X-Api-Key": first,
                                                         "X-Tenant": "globex"}
    assert integration.config_version == version + 1
    # replace the sensitive value: same secret, new version
    services.set_headers(integration, actor=personas.admin, headers=[
        HeaderInput("X-Api-Key", second), HeaderInput("X-Tenant")])
    integration.refresh_from_db()
    assert services.integration_headers(integration)["X-Api-Key"] == second
    assert integration.headers.get(name="X-Api-Key").secret_name == old_secret
    assert Secret.objects.get(name=old_secret).version == 2
    # delete it: the secret leaves the vault
    services.set_headers(integration, actor=personas.admin, headers=[HeaderInput("X-Tenant")])
    assert not Secret.objects.filter(name=old_secret).exists()
    assert list(integration.headers.values_list("name", flat=True)) == ["X-Tenant"]
    entry = AuditEntry.objects.filter(action="integration.update").first()
    assert entry.changes["headers"] == {"X-Api-Key": "removed"}
    for entry in AuditEntry.objects.all():
        assert first not in json.dumps(entry.changes) and second not in json.dumps(entry.changes)


@pytest.mark.parametrize("headers,code", [
    ([HeaderInput("X-Api-Key")], "invalid_header"),  # nothing to keep yet
    ([HeaderInput("X-Api-Key", "")], "invalid_header"),
    ([HeaderInput("Bad Header", "x")], "invalid_header"),
    ([HeaderInput("Host", "x")], "invalid_header"),
    ([HeaderInput("X-A", "1"), HeaderInput("x-a", "2")], "duplicate_header"),
    ([HeaderInput("X-A", "line\r\nInjected: 1")], "invalid_header"),
])
def test_bad_headers_are_refused(personas, headers, code):
    with pytest.raises(services.IntegrationError) as exc:
        make_integration(personas.workspace, personas.admin, headers=headers)
    assert exc.value.code == code
    assert not WorkspaceIntegration.objects.exists()


def test_blocked_save_when_a_sensitive_header_cannot_be_decrypted(personas, settings):
    secret_value = canary()
    integration = make_integration(personas.workspace, personas.admin, headers=[
        HeaderInput("Authorization", secret_value), HeaderInput("X-Tenant", "acme")])
    original_keys = settings.FIELD_ENCRYPTION_KEY
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]  # the old key is gone
    with pytest.raises(services.HeadersUnavailable) as exc:
        services.integration_headers(integration)
    assert "Authorization" in exc.value.message and secret_value not in exc.value.message
    assert services.unloadable_headers(integration) == ["Authorization"]
    before = (integration.name, integration.config_version)
    for kwargs in ({"name": "Renamed"},
                   {"headers": [HeaderInput("Authorization"), HeaderInput("X-Tenant", "b")]}):
        with pytest.raises(services.HeadersUnavailable) as exc:
            services.update_integration(integration, actor=personas.admin, **kwargs)
        assert exc.value.code == "headers_unavailable"
        assert "Saving is blocked" in exc.value.message
    integration.refresh_from_db()
    assert (integration.name, integration.config_version) == before
    assert integration.headers.get(name="X-Tenant").value == "acme"
    # nothing was lost: with the key back, the value is there
    settings.FIELD_ENCRYPTION_KEY = original_keys
    assert services.integration_headers(integration)["Authorization"] == secret_value
    # replacing the broken header explicitly is allowed
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    services.update_integration(integration, actor=personas.admin, headers=[
        HeaderInput("Authorization", "new-value"), HeaderInput("X-Tenant")])
    assert services.integration_headers(integration)["Authorization"] == "new-value"


# --- operations and fields ----------------------------------------------------------------------


def test_thirty_operations_at_most(personas):
    spec_import = ready_import(personas.workspace, personas.admin, generated_spec(40))
    keys = [op["key"] for op in spec_import.operations]
    with pytest.raises(services.IntegrationError) as exc:
        make_integration(personas.workspace, personas.admin, spec_import=spec_import,
                         keys=keys[:31])
    assert exc.value.code == "too_many_operations"
    assert "at most 30" in exc.value.message
    integration = make_integration(personas.workspace, personas.admin,
                                   spec_import=spec_import, keys=keys[:30])
    assert len(integration.selected_keys) == 30
    with pytest.raises(services.IntegrationError):
        services.update_integration(integration, actor=personas.admin,
                                    operation_keys=keys[:31])
    with pytest.raises(services.IntegrationError) as exc:
        services.update_integration(integration, actor=personas.admin,
                                    operation_keys=["get:/nope"])
    assert exc.value.code == "unknown_operation"


def test_operations_doc_keeps_refs_and_snippets_use_parameters(personas):
    integration = make_integration(personas.workspace, personas.admin)
    doc = integration.operations_doc
    assert doc["paths"]["/contacts"]["post"]["requestBody"]["content"]["application/json"][
        "schema"] == {"$ref": "#/components/schemas/Contact"}
    assert "Contact" in doc["components"]["schemas"]
    snippets = {op.key: op.snippet for op in services.operation_views(integration)}
    assert snippets["get:/contacts/{id}"] == (
        'const result = await client.integrations.custom.call("contacts", '
        '"get:/contacts/{id}", {\n  "pathParams": {\n    "id": "string"\n  }\n});')
    assert '"queryParams": {\n    "limit": 0\n  }' in snippets["get:/contacts"]
    assert '"email": "user@example.com"' in snippets["post:/contacts"]


@pytest.mark.parametrize("field,value,code", [
    ("slug", "Bad Slug", "invalid_slug"),
    ("slug", "-bad", "invalid_slug"),
    ("slug", "x" * 61, "invalid_slug"),
    ("base_url", "ftp://example.com", "invalid_url"),
    ("base_url", "/relative/api", "invalid_url"),
    ("base_url", "http://169.254.169.254/latest", "invalid_url"),
    ("base_url", "http://10.0.0.1/api", "invalid_url"),
    ("base_url", "http://localhost/api", "invalid_url"),  # names known to be local
    ("base_url", "http://tenant.localhost/api", "invalid_url"),
    ("base_url", "http://metadata.google.internal/computeMetadata/v1", "invalid_url"),
    ("base_url", "https://api.example.com/v1?key=x", "invalid_url"),
    ("name", "  ", "required"),
])
def test_field_rules(personas, settings, field, value, code):
    settings.EGRESS_ALLOW_CIDRS = []
    spec_import = ready_import(personas.workspace, personas.admin, CONTACTS_V1)
    kwargs = {"slug": "ok", "name": "OK", "base_url": "https://api.example.com",
              field: value}
    with pytest.raises(services.IntegrationError) as exc:
        services.create_integration(personas.workspace, actor=personas.admin,
                                    spec_import=spec_import, operation_keys=["get:/contacts"],
                                    **kwargs)
    assert exc.value.code == code and exc.value.field == field


def test_slug_unique_in_workspace_but_same_api_twice_is_fine(personas):
    spec_import = ready_import(personas.workspace, personas.admin, CONTACTS_V1)
    make_integration(personas.workspace, personas.admin, spec_import=spec_import,
                     slug="crm-sandbox")
    make_integration(personas.workspace, personas.admin, spec_import=spec_import,
                     slug="crm-production")  # same API, same stored spec
    with pytest.raises(services.IntegrationError) as exc:
        make_integration(personas.workspace, personas.admin, spec_import=spec_import,
                         slug="crm-sandbox")
    assert exc.value.code == "duplicate_slug"
    other = ready_import(personas.outsider_workspace, personas.outsider, CONTACTS_V1)
    make_integration(personas.outsider_workspace, personas.outsider, spec_import=other,
                     slug="crm-sandbox")  # another workspace
    assert services.suggest_slug(personas.workspace, "CRM Sandbox") == "crm-sandbox-2"


def test_plan_and_workspace_kind_are_enforced(personas):
    from workspaces import plans
    from workspaces.services import create_workspace

    personal = create_workspace(actor=personas.owner, name="Mine", kind="personal",
                                plan="pro")
    free = create_workspace(actor=personas.owner, name="Free", plan="free")
    for workspace in (personal, free):
        with pytest.raises(plans.PlanRequired):
            services.import_pasted(workspace, actor=personas.owner,
                                   text=json.dumps(CONTACTS_V1))
        with pytest.raises(plans.PlanRequired):
            services.start_url_import(workspace, actor=personas.owner,
                                      url="https://example.com/openapi.json")


def test_edit_uses_the_stored_spec(personas, upstream):
    url = serve(upstream, "/edit/spec.json", json.dumps(CONTACTS_V1))
    with egress_to(upstream):
        spec_import = services.start_url_import(personas.workspace, actor=personas.admin,
                                                url=url)
        services.run_import(spec_import.pk)
    spec_import.refresh_from_db()
    integration = make_integration(personas.workspace, personas.admin, spec_import=spec_import,
                                   keys=["get:/contacts"])
    hits = len(upstream.seen)
    upstream.routes.pop("/edit/spec.json")  # the live URL is gone now
    services.update_integration(integration, actor=personas.admin,
                                operation_keys=["get:/contacts", "delete:/contacts/{id}"],
                                name="CRM", description="Our CRM",
                                base_url="https://crm.example.com/api/")
    integration.refresh_from_db()
    assert len(upstream.seen) == hits
    assert integration.selected_keys == ["get:/contacts", "delete:/contacts/{id}"]
    assert "/contacts/{id}" in integration.operations_doc["paths"]
    assert integration.base_url == "https://crm.example.com/api"
    entry = AuditEntry.objects.filter(action="integration.update").first()
    assert entry.changes["operations"] == {"added": ["delete:/contacts/{id}"], "removed": []}
    assert entry.changes["description"] == "changed"


# --- refresh and the periodic check -------------------------------------------------------------


def _url_integration(personas, upstream, path: str):  # type: ignore[no-untyped-def]
    url = serve(upstream, path, json.dumps(CONTACTS_V1))
    with egress_to(upstream):
        spec_import = services.start_url_import(personas.workspace, actor=personas.admin,
                                                url=url)
        services.run_import(spec_import.pk)
    spec_import.refresh_from_db()
    return make_integration(personas.workspace, personas.admin, spec_import=spec_import,
                            keys=["get:/contacts", "post:/contacts", "delete:/contacts/{id}"],
                            headers=[HeaderInput("X-Api-Key", canary())])


def test_refresh_shows_a_diff_then_applies(personas, upstream):
    integration = _url_integration(personas, upstream, "/refresh/spec.json")
    old_spec = integration.spec_id
    serve(upstream, "/refresh/spec.json", json.dumps(contacts_v2()))
    with egress_to(upstream):
        refresh = services.start_refresh(integration, actor=personas.admin)
        services.run_import(refresh.pk)
    refresh.refresh_from_db()
    integration.refresh_from_db()
    assert integration.spec_id == old_spec  # nothing applied yet
    diff = refresh.diff
    assert diff["added"] == ["get:/groups"]
    assert diff["removed"] == ["delete:/contacts/{id}"]
    assert diff["changed"] == ["post:/contacts"]  # its Contact schema changed
    assert sorted(diff["affected"]) == ["delete:/contacts/{id}", "post:/contacts"]
    updated, dropped = services.apply_refresh(integration, refresh, actor=personas.admin)
    assert dropped == ["delete:/contacts/{id}"]
    assert updated.selected_keys == ["get:/contacts", "post:/contacts"]
    assert "phone" in json.dumps(updated.operations_doc)
    assert updated.spec_id == refresh.pk
    assert not SpecImport.objects.filter(pk=old_spec).exists()
    assert AuditEntry.objects.filter(action="integration.refresh").exists()
    with pytest.raises(services.IntegrationError) as exc:  # applying twice: stale
        services.apply_refresh(updated, refresh, actor=personas.admin)
    assert exc.value.code == "stale"


def test_failed_refresh_leaves_the_old_spec(personas, upstream):
    integration = _url_integration(personas, upstream, "/refresh-fail/spec.json")
    before = (integration.spec_id, integration.config_version, integration.operations_doc)
    serve(upstream, "/refresh-fail/spec.json", b"<html><body>Maintenance</body></html>",
          content_type="text/html")
    with egress_to(upstream):
        refresh = services.start_refresh(integration, actor=personas.admin)
        services.run_import(refresh.pk)
    refresh.refresh_from_db()
    assert refresh.status == "failed" and refresh.error_code == "html"
    with pytest.raises(services.IntegrationError):
        services.apply_refresh(integration, refresh, actor=personas.admin)
    integration.refresh_from_db()
    assert (integration.spec_id, integration.config_version,
            integration.operations_doc) == before


def test_pasted_integrations_have_no_url_to_refresh(personas):
    integration = make_integration(personas.workspace, personas.admin)
    with pytest.raises(services.IntegrationError) as exc:
        services.start_refresh(integration, actor=personas.admin)
    assert exc.value.code == "no_url"


def test_periodic_check_notifies_admins_once(personas, upstream,
                                             django_capture_on_commit_callbacks):
    from integrations import tasks

    integration = _url_integration(personas, upstream, "/check/spec.json")
    pasted = make_integration(personas.workspace, personas.admin, slug="pasted")
    assert list(services.integrations_to_check()) == [integration]
    # unchanged spec: nothing to say
    with egress_to(upstream), django_capture_on_commit_callbacks(execute=True):
        tasks.check_integration_spec(integration.pk)
    integration.refresh_from_db()
    assert integration.notice == "" and not mail.outbox
    serve(upstream, "/check/spec.json", json.dumps(contacts_v2()))
    for _ in range(2):  # safe to run twice: one notice, one round of e-mail
        with egress_to(upstream), django_capture_on_commit_callbacks(execute=True):
            tasks.check_integration_spec(integration.pk)
    integration.refresh_from_db()
    assert "delete:/contacts/{id}" in integration.notice
    assert "post:/contacts" in integration.notice
    assert sorted(m.to[0] for m in mail.outbox) == ["admin@example.com", "owner@example.com"]
    assert "delete:/contacts/{id}" in mail.outbox[0].body
    assert (f"/w/{integration.workspace.public_id}/integrations/{integration.public_id}/"
            in mail.outbox[0].body)
    assert SpecImport.objects.filter(integration=integration, purpose="check").count() == 1
    pasted.refresh_from_db()
    assert pasted.notice == ""
    # the fan-out task queues one check per URL integration
    with egress_to(upstream), django_capture_on_commit_callbacks(execute=True):
        assert tasks.check_integration_specs.delay().get() == 1
    # after the admin applies the new spec, the next check clears nothing new
    with egress_to(upstream):
        refresh = services.start_refresh(integration, actor=personas.admin)
        services.run_import(refresh.pk)
    services.apply_refresh(integration, SpecImport.objects.get(pk=refresh.pk),
                           actor=personas.admin)
    integration.refresh_from_db()
    assert integration.notice == ""


# --- delete -------------------------------------------------------------------------------------


def test_delete_removes_secrets_and_spec_and_keeps_call_logs(personas):
    integration = make_integration(personas.workspace, personas.admin,
                                   headers=[HeaderInput("Authorization", canary())])
    secret_name = integration.headers.get().secret_name
    spec_id = integration.spec_id
    CallLog.objects.create(request_id="r1", workspace=personas.workspace, app=personas.app,
                           integration=integration, integration_slug=integration.slug,
                           operation="get:/contacts", caller_kind="service", phase="responded",
                           response_status=200)
    old = CallLog.objects.create(request_id="r2", workspace=personas.workspace,
                                 app=personas.outsider_app, integration=integration,
                                 integration_slug=integration.slug, operation="get:/contacts",
                                 caller_kind="service", phase="responded", response_status=200)
    CallLog.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    callers = services.recent_callers(integration)
    assert [c["app"] for c in callers] == [personas.app]
    services.delete_integration(integration, actor=personas.admin)
    assert not WorkspaceIntegration.objects.exists()
    assert not Secret.objects.filter(name=secret_name).exists()
    assert not SpecImport.objects.filter(pk=spec_id).exists()
    assert not IntegrationHeader.objects.exists()
    assert CallLog.objects.count() == 2
    entry = AuditEntry.objects.get(action="integration.delete")
    assert entry.changes["recent_callers"] == ["Storefront"]


def test_delete_after_a_refresh_and_with_a_shared_spec(personas, upstream):
    integration = _url_integration(personas, upstream, "/del/spec.json")
    with egress_to(upstream):
        refresh = services.start_refresh(integration, actor=personas.admin)
        services.run_import(refresh.pk)
    services.apply_refresh(integration, SpecImport.objects.get(pk=refresh.pk),
                           actor=personas.admin)
    integration.refresh_from_db()
    twin = make_integration(personas.workspace, personas.admin, slug="twin",
                            spec_import=SpecImport.objects.get(pk=integration.spec_id),
                            keys=["get:/contacts"])
    services.delete_integration(integration, actor=personas.admin)
    assert SpecImport.objects.filter(pk=twin.spec_id).exists()  # still used by the twin
    services.delete_integration(twin, actor=personas.admin)
    assert not SpecImport.objects.exists()


def test_abandoned_imports_are_cleaned_up(personas):
    used = make_integration(personas.workspace, personas.admin)
    abandoned = ready_import(personas.workspace, personas.admin, CONTACTS_V1)
    SpecImport.objects.update(created_at=timezone.now() - timedelta(days=8))
    assert services.cleanup_abandoned_imports() == 1
    assert not SpecImport.objects.filter(pk=abandoned.pk).exists()
    assert SpecImport.objects.filter(pk=used.spec_id).exists()


def test_the_page_script_marks_the_same_headers_sensitive():
    """wizard.js shows the sensitive badge and hides values as you type a header name; its
    lists must be the server's (the server decides either way)."""
    import re
    from pathlib import Path

    import integrations

    script = (Path(integrations.__file__).parent / "static" / "integrations" / "wizard.js"
              ).read_text()

    def js_list(name: str) -> set[str]:
        match = re.search(name + r" = \[([^\]]*)\]", script)
        assert match, name
        return set(re.findall(r'"([^"]+)"', match.group(1)))

    assert js_list("NAMES") == set(services.SENSITIVE_HEADER_NAMES)
    assert js_list("PARTS") == set(services.SENSITIVE_HEADER_PARTS)
