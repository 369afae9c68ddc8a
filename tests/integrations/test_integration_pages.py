"""The dashboard pages: the three-step wizard with the Django client, edit, refresh, delete,
failed saves that keep what was typed (a typed sensitive value only back in its password field,
never a saved one), query ceilings."""

from __future__ import annotations

import html as html_module
import json

import pytest
from cryptography.fernet import Fernet
from django.urls import reverse

from integrations import services
from integrations.models import CallLog, SpecImport, WorkspaceIntegration
from integrations.services import HeaderInput
from tests.integrations.egress_support import Upstream
from tests.integrations.typed_value_support import (
    assert_nothing_saved,
    assert_typed_value_back_only_in_its_password_field,
)
from tests.integrations.wizard_support import (
    CONTACTS_V1,
    PETSTORE_30,
    canary,
    contacts_v2,
    egress_to,
    generated_spec,
    make_integration,
    ready_import,
    serve,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, personas):  # type: ignore[no-untyped-def]
    client.force_login(personas.admin)
    return client


def ws_url(personas, name: str, *args: str) -> str:  # type: ignore[no-untyped-def]
    return reverse(name, args=[personas.workspace.public_id, *args])


def test_wizard_paste_select_configure_create(admin_client, personas,
                                              django_capture_on_commit_callbacks):
    c, p = admin_client, personas
    page = c.get(ws_url(p, "integration-new"))
    assert page.status_code == 200 and b"Paste JSON or YAML" in page.content
    with django_capture_on_commit_callbacks(execute=True):  # the validation task runs
        response = c.post(ws_url(p, "integration-new"),
                          {"source": "paste", "spec": PETSTORE_30.read_text()})
    spec_import = SpecImport.objects.get()
    assert response.status_code == 302
    assert response.url == ws_url(p, "integration-import", spec_import.public_id)
    status = c.get(ws_url(p, "integration-import-status", spec_import.public_id)).json()
    assert status["done"] and status["status"] == "ready" and status["operation_count"] == 3
    page = c.get(response.url)
    assert b"3 operations" in page.content and b"Continue" in page.content
    # step 2
    ops_url = ws_url(p, "integration-new-operations", spec_import.public_id)
    page = c.get(ops_url)
    html = page.content.decode()
    assert 'value="get:/pets"' in html and "listPets" in html and 'id="op-search"' in html
    response = c.post(ops_url, {"op": ["get:/pets", "get:/pets/{petId}"]})
    assert response.url == ws_url(p, "integration-new-configure", spec_import.public_id)
    # step 3, prefilled from the spec
    page = c.get(response.url)
    html = page.content.decode()
    assert 'value="swagger-petstore"' in html and 'value="http://petstore.swagger.io/v1"' in html
    assert "/pets/{petId}" in html and "Create integration" in html
    secret_value = canary()
    response = c.post(response.url, {
        "slug": "pets", "name": "Pets", "description": "The pet store",
        "base_url": "https://petstore.example.com/v1",
        "header_keep": ["", "", ""], "header_name": ["Authorization", "X-Tenant", ""],
        "header_value": [f"Bearer {secret_value}", "acme", ""]})
    integration = WorkspaceIntegration.objects.get()
    assert response.url == ws_url(p, "integration-detail", integration.public_id)
    assert integration.selected_keys == ["get:/pets", "get:/pets/{petId}"]
    assert services.integration_headers(integration)["Authorization"] == f"Bearer {secret_value}"
    detail = html_module.unescape(c.get(response.url).content.decode())
    assert 'client.integrations.custom.call("pets", "get:/pets/{petId}"' in detail
    assert "Authorization" in detail and secret_value not in detail
    listing = c.get(ws_url(p, "integrations")).content.decode()
    assert "Pets" in listing and "petstore.example.com" in listing and "2 operations" in listing


def test_paste_errors_keep_the_text(admin_client, personas):
    broken = '{"openapi": "3.0.0", "info": {"title": "x"'
    response = admin_client.post(ws_url(personas, "integration-new"),
                                 {"source": "paste", "spec": broken})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Not valid JSON" in html and "line 1" in html
    assert "{&quot;openapi&quot;: &quot;3.0.0&quot;" in html
    assert not SpecImport.objects.exists()


def test_a_paste_larger_than_a_form_may_be_says_what_to_do(admin_client, personas, settings):
    """Without JavaScript a huge paste is a form field over DATA_UPLOAD_MAX_MEMORY_SIZE: the
    answer is our page telling the admin to upload the file or use the URL, not a bare 400."""
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = admin_client.post(ws_url(personas, "integration-new"),
                                 {"source": "paste", "spec": "x" * 20_000})
    html = response.content.decode()
    assert response.status_code == 400
    assert "That form was too large" in html and "as a file" in html and "from its URL" in html
    assert "9.8 KB" in html  # the limit, as configured
    assert not SpecImport.objects.exists()


def test_upload_a_file(admin_client, personas, django_capture_on_commit_callbacks):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("spec.yaml", PETSTORE_30.read_bytes())
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(ws_url(personas, "integration-new"),
                                     {"source": "paste", "spec": "", "spec_file": upload})
    assert response.status_code == 302
    assert SpecImport.objects.get().status == "ready"


def test_an_uploaded_file_must_be_text(admin_client, personas):
    """UTF-16 with a BOM is read; a binary file is refused at the file field, with a message
    that says where it stopped being text, and nothing is stored."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    text = json.dumps(CONTACTS_V1)
    upload = SimpleUploadedFile("spec.json", ("\ufeff" + text).encode("utf-16-le"))
    response = admin_client.post(ws_url(personas, "integration-new"),
                                 {"source": "paste", "spec": "", "spec_file": upload})
    assert response.status_code == 302
    assert SpecImport.objects.get().title == "Contacts"
    upload = SimpleUploadedFile("spec.bin", b"openapi: 3.0.0\n\xc3\x28 binary")
    response = admin_client.post(ws_url(personas, "integration-new"),
                                 {"source": "paste", "spec": "", "spec_file": upload})
    html = html_module.unescape(response.content.decode())
    assert response.status_code == 200
    assert "not UTF-8 text (invalid byte at offset 15)" in html
    assert SpecImport.objects.count() == 1

def test_a_big_paste_sent_as_a_file_comes_back_in_the_editor_when_refused(admin_client,
                                                                          personas):
    """wizard.js sends a paste over 1 MB as a file named pasted-spec.txt (form fields are
    capped); when it is refused, the text is put back in the editor: nothing typed is lost."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    spec = generated_spec(3)
    spec["info"]["description"] = "typed by hand " * 100_000
    spec["paths"]["/items/0"]["get"]["responses"]["200"] = {"$ref": "#/components/x/Missing"}
    text = json.dumps(spec)
    upload = SimpleUploadedFile("pasted-spec.txt", text.encode(), content_type="text/plain")
    response = admin_client.post(ws_url(personas, "integration-new"),
                                 {"source": "paste", "spec": "", "spec_file": upload})
    html = response.content.decode()
    assert response.status_code == 200
    assert "#/components/x/Missing" in html and 'data-testid="spec-error"' in html
    assert html_module.unescape(html).count("typed by hand") == 100_000
    assert not SpecImport.objects.exists()
    # a file the user chose stays a file error (the file is still on their disk)
    upload = SimpleUploadedFile("openapi.json", text.encode(), content_type="text/plain")
    response = admin_client.post(ws_url(personas, "integration-new"),
                                 {"source": "paste", "spec": "", "spec_file": upload})
    html = response.content.decode()
    assert "#/components/x/Missing" in html and "typed by hand" not in html


def test_url_import_shows_progress_then_the_failure(admin_client, personas, settings):
    settings.EGRESS_ALLOW_CIDRS = []
    response = admin_client.post(ws_url(personas, "integration-new"),
                                 {"source": "url", "url": "http://10.0.0.5/openapi.json"})
    assert "can&#x27;t be used" in response.content.decode()
    response = admin_client.post(ws_url(personas, "integration-new"),
                                 {"source": "url", "url": "https://specs.example.com/o.json"})
    spec_import = SpecImport.objects.get()
    page = admin_client.get(response.url).content.decode()  # the task has not run (no commit)
    assert 'data-testid="import-progress"' in page and "Waiting for a worker" in page
    assert 'http-equiv="refresh"' in page and 'id="refresh-link"' in page  # works without JS
    services.fail_import(spec_import.pk, "unreachable", "The server could not be reached.")
    page = admin_client.get(response.url).content.decode()
    assert "could not be reached" in page and "Try again" in page


def test_thirty_operations_in_the_page(admin_client, personas):
    spec_import = ready_import(personas.workspace, personas.admin, generated_spec(40))
    keys = [op["key"] for op in spec_import.operations]
    url = ws_url(personas, "integration-new-operations", spec_import.public_id)
    response = admin_client.post(url, {"op": keys[:31]})
    html = response.content.decode()
    assert response.status_code == 200
    assert "Select at most 30 operations (31 selected)" in html
    assert html.count(" checked>") == 31  # the selection is kept
    assert 'data-max="30"' in html
    response = admin_client.post(url, {"op": keys[:30]})
    assert response.status_code == 302


def test_operation_page_for_a_thousand_operations(admin_client, personas,
                                                  django_assert_max_num_queries):
    spec_import = ready_import(personas.workspace, personas.admin, generated_spec(1000))
    url = ws_url(personas, "integration-new-operations", spec_import.public_id)
    with django_assert_max_num_queries(10):  # speed: bench/spec_import.py (< 100 ms)
        response = admin_client.get(url)
    html = response.content.decode()
    assert html.count('name="op"') == 1000
    # every row carries what the search box matches: method, path, operationId, summary, tag
    assert ('data-search="get /items/999 getitems999 read items number 999 group99"'
            in html)


def test_failed_save_keeps_input_and_the_typed_sensitive_value_only_in_its_field(
        admin_client, personas):
    """Issue 14 §4.4: the key typed into this form comes back in its password field (nothing
    to retype), nowhere else in the page, and nothing is saved."""
    make_integration(personas.workspace, personas.admin, slug="taken")
    spec_import = ready_import(personas.workspace, personas.admin, CONTACTS_V1)
    session = admin_client.session
    session[f"integrations:new:{spec_import.public_id}"] = ["get:/contacts"]
    session.save()
    secret_value = canary()
    response = admin_client.post(
        ws_url(personas, "integration-new-configure", spec_import.public_id),
        {"slug": "taken", "name": "My CRM", "description": "typed text",
         "base_url": "https://crm.example.com", "header_keep": ["", ""],
         "header_name": ["X-Api-Key", "X-Tenant"], "header_value": [secret_value, "acme"]})
    html = response.content.decode()
    assert response.status_code == 200
    assert "already exists" in html
    assert 'value="My CRM"' in html and "typed text" in html and 'value="acme"' in html
    assert 'value="X-Api-Key"' in html and "enter it again" not in html
    assert_typed_value_back_only_in_its_password_field(response, "X-Api-Key", secret_value)
    assert WorkspaceIntegration.objects.count() == 1
    assert_nothing_saved(admin_client, secret_value)


def test_edit_page_masks_sensitive_headers_and_keeps_them(admin_client, personas):
    secret_value = canary()
    integration = make_integration(personas.workspace, personas.admin, headers=[
        HeaderInput("Authorization", secret_value), HeaderInput("X-Tenant", "acme")])
    url = ws_url(personas, "integration-edit", integration.public_id)
    html = admin_client.get(url).content.decode()
    assert "sensitive – delete to change" in html and secret_value not in html
    assert 'value="acme"' in html
    response = admin_client.post(url, {
        "slug": "contacts", "name": "Renamed", "description": "",
        "base_url": "https://api.example.com/v1", "header_keep": ["1", "1", ""],
        "header_name": ["Authorization", "X-Tenant", ""], "header_value": ["", "globex", ""]})
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.name == "Renamed"
    assert services.integration_headers(integration) == {"Authorization": secret_value,
                                                         "X-Tenant": "globex"}
    # removing the row (not sent) deletes the header
    admin_client.post(url, {"slug": "contacts", "name": "Renamed",
                            "base_url": "https://api.example.com/v1", "header_keep": ["1"],
                            "header_name": ["X-Tenant"], "header_value": ["globex"]})
    assert services.integration_headers(integration) == {"X-Tenant": "globex"}


def test_a_sensitive_value_typed_into_a_kept_row_comes_back_in_its_field_after_a_failed_save(
        admin_client, personas):
    """A plain header renamed to a sensitive name (its typed value now a secret): after a failed
    save the row gives the typed value back in its password field (not as a stored, masked
    value that does not exist), nowhere else in the page, and the stored header is unchanged."""
    integration = make_integration(personas.workspace, personas.admin, headers=[
        HeaderInput("X-Tenant", "acme")])
    url = ws_url(personas, "integration-edit", integration.public_id)
    secret_value = canary()
    response = admin_client.post(url, {
        "slug": "contacts", "name": "Contacts", "base_url": "not a url",
        "header_keep": ["1"], "header_name": ["X-Tenant-Token"],
        "header_value": [secret_value]})
    html = response.content.decode()
    assert response.status_code == 200 and "https://" in html
    assert 'value="X-Tenant-Token"' in html and "enter it again" not in html
    assert "sensitive – delete to change" not in html
    assert_typed_value_back_only_in_its_password_field(response, "X-Tenant-Token",
                                                       secret_value)
    assert services.integration_headers(integration) == {"X-Tenant": "acme"}
    assert_nothing_saved(admin_client, secret_value)
    # once a sensitive value IS saved, no page shows it: not the edit page, not a failed save
    response = admin_client.post(url, {
        "slug": "contacts", "name": "Contacts", "base_url": "https://api.example.com/v1",
        "header_keep": ["1"], "header_name": ["X-Tenant-Token"],
        "header_value": [secret_value]})
    assert response.status_code == 302
    assert services.integration_headers(integration) == {"X-Tenant-Token": secret_value}
    detail = ws_url(personas, "integration-detail", integration.public_id)
    for page in (url, detail):
        assert secret_value not in admin_client.get(page).content.decode()
    failed = admin_client.post(url, {
        "slug": "contacts", "name": "Contacts", "base_url": "not a url",
        "header_keep": ["1"], "header_sensitive": ["0"], "header_name": ["X-Tenant-Token"],
        "header_value": [""]})
    assert failed.status_code == 200 and secret_value not in failed.content.decode()
    assert 'data-testid="sensitive-mask"' in failed.content.decode()


def test_edit_is_blocked_when_a_header_cannot_be_decrypted(admin_client, personas, settings):
    integration = make_integration(personas.workspace, personas.admin, headers=[
        HeaderInput("Authorization", canary())])
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    url = ws_url(personas, "integration-edit", integration.public_id)
    html = admin_client.get(url).content.decode()
    assert 'data-testid="headers-unavailable"' in html and "Saving is blocked" in html
    response = admin_client.post(url, {
        "slug": "contacts", "name": "Renamed", "base_url": "https://api.example.com/v1",
        "header_keep": ["1"], "header_name": ["Authorization"], "header_value": [""]})
    assert response.status_code == 200 and "Saving is blocked" in response.content.decode()
    integration.refresh_from_db()
    assert integration.name == "Contacts"


def test_edit_operations_on_the_stored_spec(admin_client, personas):
    integration = make_integration(personas.workspace, personas.admin, keys=["get:/contacts"])
    url = ws_url(personas, "integration-edit-operations", integration.public_id)
    html = admin_client.get(url).content.decode()
    assert html.count(" checked>") == 1
    response = admin_client.post(url, {"op": ["get:/contacts", "post:/contacts"]})
    assert response.url == ws_url(personas, "integration-edit", integration.public_id)
    html = admin_client.get(response.url).content.decode()
    assert "changed, not saved yet" in html and "/contacts" in html
    admin_client.post(response.url, {"slug": "contacts", "name": "Contacts",
                                     "base_url": "https://api.example.com/v1"})
    integration.refresh_from_db()
    assert integration.selected_keys == ["get:/contacts", "post:/contacts"]


def test_refresh_pages(admin_client, personas):
    upstream = Upstream()
    try:
        url = serve(upstream, "/spec.json", json.dumps(CONTACTS_V1))
        with egress_to(upstream):
            spec_import = services.start_url_import(personas.workspace, actor=personas.admin,
                                                    url=url)
            services.run_import(spec_import.pk)
            integration = make_integration(personas.workspace, personas.admin,
                                           spec_import=SpecImport.objects.get(pk=spec_import.pk))
            serve(upstream, "/spec.json", json.dumps(contacts_v2()))
            response = admin_client.post(ws_url(personas, "integration-refresh",
                                                integration.public_id))
            refresh = SpecImport.objects.get(purpose="refresh")
            services.run_import(refresh.pk)
        html = admin_client.get(response.url).content.decode()
        assert 'data-testid="refresh-diff"' in html
        assert "delete:/contacts/{id}</code> — removed" in html and "get:/groups" in html
        response = admin_client.post(ws_url(personas, "integration-refresh-apply",
                                            integration.public_id, refresh.public_id))
        assert response.url == ws_url(personas, "integration-detail", integration.public_id)
        integration.refresh_from_db()
        assert integration.spec_id == refresh.pk
        assert "delete:/contacts/{id}" not in integration.selected_keys
    finally:
        upstream.close()


def test_refresh_lets_the_admin_choose_when_every_selected_operation_is_gone(admin_client,
                                                                             personas):
    upstream = Upstream()
    try:
        url = serve(upstream, "/gone.json", json.dumps(CONTACTS_V1))
        with egress_to(upstream):
            spec_import = services.start_url_import(personas.workspace, actor=personas.admin,
                                                    url=url)
            services.run_import(spec_import.pk)
            integration = make_integration(personas.workspace, personas.admin,
                                           spec_import=SpecImport.objects.get(pk=spec_import.pk),
                                           keys=["delete:/contacts/{id}"])
            serve(upstream, "/gone.json", json.dumps(contacts_v2()))
            response = admin_client.post(ws_url(personas, "integration-refresh",
                                                integration.public_id))
            refresh = SpecImport.objects.get(purpose="refresh")
            services.run_import(refresh.pk)
        html = admin_client.get(response.url).content.decode()
        assert '<details class="choose-ops" open' in html
        assert "None of the selected operations is in the new spec" in html
        assert html.count(" checked>") == 0 and 'value="get:/groups"' in html
        apply_url = ws_url(personas, "integration-refresh-apply", integration.public_id,
                           refresh.public_id)
        # a refused choice keeps what was ticked, and changes nothing
        response = admin_client.post(apply_url, {"choose": "1",
                                                 "op": ["get:/groups", "get:/nope"]})
        html = response.content.decode()
        assert response.status_code == 200 and "Not an operation of this spec" in html
        assert 'value="get:/groups" id="op-' in html and html.count(" checked>") == 1
        response = admin_client.post(apply_url, {"choose": "1"})
        assert "Select at least one operation" in response.content.decode()
        integration.refresh_from_db()
        assert integration.spec_id == spec_import.pk
        assert integration.selected_keys == ["delete:/contacts/{id}"]
        response = admin_client.post(apply_url, {"choose": "1",
                                                 "op": ["get:/groups", "get:/contacts"]})
        assert response.url == ws_url(personas, "integration-detail", integration.public_id)
        integration.refresh_from_db()
        assert integration.spec_id == refresh.pk
        assert integration.selected_keys == ["get:/groups", "get:/contacts"]
    finally:
        upstream.close()


def test_delete_confirmation_names_recent_callers(admin_client, personas):
    integration = make_integration(personas.workspace, personas.admin)
    CallLog.objects.create(request_id="r1", workspace=personas.workspace, app=personas.app,
                           integration=integration, integration_slug=integration.slug,
                           operation="get:/contacts", caller_kind="service", phase="responded",
                           response_status=200)
    url = ws_url(personas, "integration-delete", integration.public_id)
    html = admin_client.get(url).content.decode()
    assert "Storefront" in html and "will break" in html
    response = admin_client.post(url)
    assert response.url == ws_url(personas, "integrations")
    assert not WorkspaceIntegration.objects.exists()


def test_list_page_query_ceiling(admin_client, personas, django_assert_max_num_queries):
    spec_import = ready_import(personas.workspace, personas.admin, CONTACTS_V1)
    for i in range(8):
        make_integration(personas.workspace, personas.admin, slug=f"crm-{i}",
                         spec_import=spec_import,
                         headers=[HeaderInput("X-Api-Key", "k"), HeaderInput("X-A", "a")])
    with django_assert_max_num_queries(12):
        response = admin_client.get(ws_url(personas, "integrations"))
    assert response.content.decode().count('data-testid="integration-card"') == 8


def test_nav_links_to_integrations(admin_client, personas):
    html = admin_client.get(reverse("apps", args=[personas.workspace.public_id])).content
    assert ws_url(personas, "integrations").encode() in html


def test_members_see_the_details_but_no_header_values(client, personas):
    secret_value = canary()
    integration = make_integration(personas.workspace, personas.admin, headers=[
        HeaderInput("Authorization", secret_value), HeaderInput("X-Tenant", "tenant-4711")])
    client.force_login(personas.member)
    html = html_module.unescape(
        client.get(ws_url(personas, "integration-detail", integration.public_id))
        .content.decode())
    assert "https://api.example.com/v1" in html
    assert 'data-testid="detail-operation-count">4<' in html
    assert "Authorization" in html and "X-Tenant" in html  # the names
    assert secret_value not in html and "tenant-4711" not in html  # never a value
    assert 'client.integrations.custom.call("contacts", "get:/contacts"' in html
    assert 'data-testid="edit-integration"' not in html and "Refresh from URL" not in html
    listing = client.get(ws_url(personas, "integrations")).content.decode()
    assert 'data-testid="integration-card"' in listing and "api.example.com/v1" in listing
    assert 'data-testid="add-integration"' not in listing and "More actions" not in listing
