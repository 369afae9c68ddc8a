"""The import wizard's rough edges (issue 14 §4.3, 4.4, 4.5, 4.11): validator warnings in words
grouped by operation, every Configure field checked in one pass with a typed sensitive value
kept, Back after "Create integration", and the automatic slug from the API's name."""

from __future__ import annotations

import html as html_lib
import json
import re
from typing import Any

import pytest
from django.urls import reverse
from django.utils.text import slugify

from integrations import naming, services
from integrations import warnings as spec_warnings
from integrations.models import IntegrationHeader, SpecImport, WorkspaceIntegration
from integrations.services import HeaderInput
from tests.integrations.typed_value_support import (
    assert_nothing_saved,
    assert_typed_value_back_only_in_its_password_field,
)
from tests.integrations.wizard_support import (
    CONTACTS_V1,
    SPECS,
    canary,
    make_integration,
    ready_import,
)

pytestmark = pytest.mark.django_db

SLACK = SPECS / "slack-web-2.0.json"


@pytest.fixture
def admin_client(client, personas):  # type: ignore[no-untyped-def]
    client.force_login(personas.admin)
    return client


def ws_url(personas: Any, name: str, *args: str) -> str:
    return reverse(name, args=[personas.workspace.public_id, *args])


def configure(admin_client: Any, personas: Any, spec: Any = CONTACTS_V1,
              keys: list[str] | None = None) -> tuple[str, SpecImport]:
    spec_import = ready_import(personas.workspace, personas.admin, spec)
    session = admin_client.session
    session[f"integrations:new:{spec_import.public_id}"] = keys or ["get:/contacts"]
    session.save()
    return ws_url(personas, "integration-new-configure", spec_import.public_id), spec_import


def text_of(html: str) -> str:
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


# --- §4.3 validator warnings --------------------------------------------------------------------


@pytest.fixture(scope="module")
def slack_text() -> str:
    return SLACK.read_text()


def test_slack_warnings_read_as_words_grouped_by_operation(admin_client, personas, slack_text):
    spec_import = ready_import(personas.workspace, personas.admin, slack_text)
    assert len(spec_import.warnings) == 19  # the corpus INDEX: 19 errors
    html = admin_client.get(ws_url(personas, "integration-import",
                                   spec_import.public_id)).content.decode()
    box = html[html.index('data-testid="import-warnings"'):]
    box = box[:box.index('id="operations-form"')]
    words = text_of(box)
    assert "19 validation warnings in 17 operations" in words
    # grouped: the example heading, once, with its warning under it
    assert words.count("GET /admin.conversations.search — response 200") == 1
    assert ("“items” is a list of schemas, but it must be a single schema. at schema/properties/"
            "channels/items/properties/latest/items") in words
    # no Python reprs, no escaped pointers
    assert "is not of type" not in box and "{'$ref'" not in box and "~1" not in box
    assert "&#x27;" not in box
    # the first few shown, the rest collapsed
    shown, _, more = box.partition('<details class="more-warnings"')
    assert more and 3 <= shown.count("<li>") <= spec_warnings.SHOWN_FIRST
    assert "Show 14 more warnings" in text_of(more) or "Show " in text_of(more)
    assert shown.count("<li>") + more.count("<li>") == 19


def test_step_2_flags_the_operations_with_warnings(admin_client, personas, slack_text):
    spec_import = ready_import(personas.workspace, personas.admin, slack_text)
    html = admin_client.get(ws_url(personas, "integration-new-operations",
                                   spec_import.public_id)).content.decode()
    rows = re.findall(r"<tr data-search=.*?</tr>", html)
    flagged = [r for r in rows if 'data-testid="op-warned"' in r]
    assert len(rows) == 174 and len(flagged) == 17
    row = next(r for r in rows if 'value="post:/usergroups.create"' in r)
    assert "2 validation warnings" in row
    assert not any('data-testid="op-warned"' in r for r in rows
                   if 'value="get:/api.test"' in r)
    assert "17 operations have validation warnings" in text_of(html)
    # the import page's table flags them too
    html = admin_client.get(ws_url(personas, "integration-import",
                                   spec_import.public_id)).content.decode()
    assert html.count('data-testid="op-warned"') == 17


def test_the_status_json_carries_the_warnings_in_words(admin_client, personas, slack_text):
    spec_import = ready_import(personas.workspace, personas.admin, slack_text)
    data = admin_client.get(ws_url(personas, "integration-import-status",
                                   spec_import.public_id)).json()
    first = data["warning_groups"][0]
    assert first["title"] == "GET /admin.conversations.search — response 200"
    assert first["operation"] == "get:/admin.conversations.search"
    assert "~1" not in json.dumps(data["warning_groups"])
    assert 'data-testid="more-warnings"' in data["warnings_html"]
    assert data["warned_operations"]["post:/usergroups.create"] == 2


@pytest.mark.parametrize(("message", "pointer", "group", "words"), [
    # OpenAI's (corpus INDEX: 25 errors, e.g. duplicate required items)
    ("['id', 'object', 'name', 'id', 'name'] has non-unique elements",
     "/paths/~1containers/post/responses/200/content/application~1json/schema/required",
     "POST /containers — response 200", "“required” lists “id”, “name” more than once."),
    ("True is not of type 'number'",
     "/components/schemas/FineTuneDPOHyperparameters/properties/beta/oneOf/1/exclusiveMinimum",
     "Schema FineTuneDPOHyperparameters", "“exclusiveMinimum” is true, but it must be a number."),
    ("['auto'] is not one of ['auto']", "/components/schemas/T/oneOf/0", "Schema T",
     "Item 1 of “oneOf” is a list, but it must be one of “auto”."),
    ("'description' is a required property", "/paths/~1pets~1{id}/get/responses/404",
     "GET /pets/{id} — response 404", "The required field “description” is missing."),
    ("Additional properties are not allowed ('foo', 'bar' were unexpected)", "/info", "“info”",
     "Unknown fields here: foo, bar."),
    ("None is not valid under any of the given schemas", "/paths/~1a~0b/parameters/0",
     "/a~b (every operation of the path)",
     "Item 1 of “parameters” is null, which matches none of the forms allowed here."),
    ("Validation stopped after 30 s; the spec was not fully checked.", "", "The whole spec",
     "Validation stopped after 30 s; the spec was not fully checked."),
])
def test_validator_messages_in_words(message, pointer, group, words):
    [found] = spec_warnings.readable([{"message": message, "location": pointer}])
    assert found.title == group
    assert found.items[0].text == words


def test_pointer_tokens_are_unescaped_in_order():
    assert spec_warnings.unescape("a~01") == "a~1"  # ~0 -> ~ after ~1 -> /, never "a/"
    assert spec_warnings.pointer_tokens("/paths/~1a~1b/get") == ["paths", "/a/b", "get"]


# --- §4.4 one pass, the typed sensitive value kept ----------------------------------------------


def test_every_field_error_comes_back_in_one_submit(admin_client, personas):
    make_integration(personas.workspace, personas.admin, slug="taken")
    url, _ = configure(admin_client, personas)
    typed = canary()
    response = admin_client.post(url, {
        "slug": "taken", "name": "CRM", "base_url": "http://10.0.0.8/api",
        "header_row": ["0", "1"], "header_keep": ["", ""],
        "header_name": ["Authorization", "X-Tenant"], "header_value": [typed, "acme"]})
    html = response.content.decode()
    words = text_of(html)
    assert response.status_code == 200
    assert "An integration with the slug “taken” already exists" in words
    assert "This base URL can't be used" in words
    # the value typed into this form is back in its (password) field, nothing to retype
    row = html[html.index('value="Authorization"'):]
    row = row[:row.index("</div>")]
    assert re.search(rf'<input type="password" name="header_value" value="{typed}"', row)
    assert "Not saved yet" in text_of(row)
    assert_typed_value_back_only_in_its_password_field(response, "Authorization", typed)
    assert WorkspaceIntegration.objects.filter(slug="taken").count() == 1
    assert_nothing_saved(admin_client, typed)
    # fixing both saves it with the value typed the first time
    response = admin_client.post(url, {
        "slug": "crm", "name": "CRM", "base_url": "https://crm.example.com",
        "header_row": ["0", "1"], "header_keep": ["", ""],
        "header_name": ["Authorization", "X-Tenant"], "header_value": [typed, "acme"]})
    assert response.status_code == 302
    created = WorkspaceIntegration.objects.get(slug="crm")
    assert services.integration_headers(created) == {"Authorization": typed, "X-Tenant": "acme"}


def test_header_and_field_errors_together(admin_client, personas):
    url, _ = configure(admin_client, personas)
    html = admin_client.post(url, {
        "slug": "Bad Slug", "name": "", "base_url": "https://crm.example.com",
        "header_row": ["0"], "header_keep": [""], "header_name": ["Host"],
        "header_value": ["x"]}).content.decode()
    words = text_of(html)
    assert "Use lower-case letters" in words and "This field is required" in words
    assert "The header Host is set by Switchboard itself" in words


def test_a_stored_sensitive_value_never_comes_back(admin_client, personas):
    """Canary: the stored key is neither on the edit page nor in a failed save's page, where
    the user's own typed input would be."""
    secret = canary()
    integration = make_integration(personas.workspace, personas.admin, headers=[
        HeaderInput("Authorization", secret), HeaderInput("X-Tenant", "acme")])
    make_integration(personas.workspace, personas.admin, slug="other")
    url = ws_url(personas, "integration-edit", integration.public_id)
    assert secret not in admin_client.get(url).content.decode()
    response = admin_client.post(url, {
        "slug": "other", "name": "Contacts", "base_url": "http://192.168.1.1",
        "header_row": ["0", "1"], "header_keep": ["1", "1"], "header_sensitive": ["0"],
        "header_name": ["Authorization", "X-Tenant"], "header_value": ["", "acme"]})
    html = response.content.decode()
    assert response.status_code == 200 and "already exists" in html
    assert "This base URL can't be used" in text_of(html)
    assert secret not in html and 'data-testid="sensitive-mask"' in html
    header = IntegrationHeader.objects.get(integration=integration, name="Authorization")
    assert header.sensitive and secret not in (header.value or "")


# --- §4.5 Back after "Create integration" ------------------------------------------------------


def test_the_wizard_urls_after_create_land_on_the_integration(admin_client, personas):
    url, spec_import = configure(admin_client, personas)
    response = admin_client.post(url, {"slug": "crm", "name": "CRM",
                                       "base_url": "https://crm.example.com"})
    detail = response.url
    integration = WorkspaceIntegration.objects.get(slug="crm")
    assert detail == ws_url(personas, "integration-detail", integration.public_id)
    for name in ("integration-new-configure", "integration-new-operations",
                 "integration-import"):
        stale = admin_client.get(ws_url(personas, name, spec_import.public_id))
        assert stale.status_code == 302 and stale.url == detail, name
    page = admin_client.get(detail)
    assert "already created from this spec" in text_of(page.content.decode())
    # a second "Create" (the form sent again from the browser's history) makes nothing new
    again = admin_client.post(url, {"slug": "crm-2", "name": "CRM",
                                    "base_url": "https://crm.example.com"})
    assert again.status_code == 302 and again.url == detail
    assert WorkspaceIntegration.objects.count() == 1


WIZARD_PAGES = ("integration-new-configure", "integration-new-operations", "integration-import")


def test_after_create_a_member_or_outsider_still_gets_no_wizard(client, personas):
    """The "land on the integration" redirect comes after the access check: an outsider gets
    404 (through the workspace's URL and through their own workspace's), a member 403, and
    neither is told the integration exists."""
    spec_import = ready_import(personas.workspace, personas.admin, CONTACTS_V1)
    integration = make_integration(personas.workspace, personas.admin, spec_import=spec_import)
    own = personas.outsider_workspace.public_id
    for name in WIZARD_PAGES:
        url = ws_url(personas, name, spec_import.public_id)
        client.force_login(personas.member)
        assert client.get(url).status_code == 403, name
        assert client.post(url, {"slug": "x", "name": "X"}).status_code == 403, name
        client.force_login(personas.outsider)
        for target in (url, reverse(name, args=[own, spec_import.public_id])):
            response = client.get(target)
            assert response.status_code == 404, (name, target)
            assert integration.public_id not in response.content.decode()
            assert client.post(target, {"slug": "x", "name": "X"}).status_code == 404
        client.logout()
        signed_out = client.get(url)
        assert signed_out.status_code == 302 and signed_out.url.startswith(reverse("login"))
    assert WorkspaceIntegration.objects.count() == 1


def test_the_wizard_of_a_deleted_integration_lands_on_the_list(admin_client, personas):
    url, spec_import = configure(admin_client, personas)
    admin_client.post(url, {"slug": "crm", "name": "CRM", "base_url": "https://crm.example.com"})
    integration = WorkspaceIntegration.objects.get(slug="crm")
    services.delete_integration(integration, actor=personas.admin)
    response = admin_client.get(url)
    assert response.status_code in (302, 404)
    if response.status_code == 302:
        assert response.url in (ws_url(personas, "integrations"),
                                ws_url(personas, "integration-new-operations",
                                       spec_import.public_id))


# --- §4.11 the automatic slug -------------------------------------------------------------------


@pytest.mark.parametrize(("title", "slug"), [
    ("Swagger Petstore - OpenAPI 3.0", "swagger-petstore"),  # swagger-petstore3-3.0.yaml
    ("Petstore OpenAPI 3.0", "petstore"),
    ("Stripe API", "stripe"),  # stripe-2022-04-3.0.json
    ("Stripe API (v1)", "stripe"),
    ("Slack Web API", "slack-web"),  # slack-web-2.0.json
    ("Box Platform API", "box-platform"),  # box-3.0.json
    ("Twilio - Messaging", "twilio-messaging"),  # twilio-messaging-v1-3.0.yaml
    ("OpenAI API", "openai"),  # openai-3.1.yaml
    ("USPTO Data Set API", "uspto-data-set"),  # oai-uspto-3.0.yaml
    ("Twilio API 2010-04-01", "twilio"),
    ("GitHub v3 REST API", "github"),
    ("My API v2.1-beta", "my-api"),
    ("OpenAPI 3.0", ""),
    ("Asana", "asana"),
])
def test_the_slug_comes_from_the_api_name(title, slug):
    assert slugify(naming.api_name(title)) == slug


def test_configure_suggests_the_slug_from_the_real_title(admin_client, personas):
    url, _ = configure(admin_client, personas, (SPECS / "swagger-petstore3-3.0.yaml").read_text(),
                       keys=["get:/pet/{petId}"])
    html = admin_client.get(url).content.decode()
    assert 'name="slug" value="swagger-petstore"' in html
    assert 'name="name" value="Swagger Petstore - OpenAPI 3.0"' in html
