"""The admin API walkthrough (what the README shows with curl), write-only header values, and a
canary header value that appears in no page, API answer, log or plain database column."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from integrations import services
from integrations.models import CallLog, SpecImport
from integrations.services import HeaderInput
from tests import canary as walker
from tests.integrations.egress_support import Upstream
from tests.integrations.wizard_support import (
    CONTACTS_V1,
    PETSTORE_30,
    canary,
    contacts_v2,
    egress_to,
    generated_spec,
    make_integration,
    serve,
)
from workspaces.models import Membership

pytestmark = pytest.mark.django_db


def test_api_walkthrough(api, personas, django_capture_on_commit_callbacks):
    client = api(personas.admin)
    base = f"/api/v1/workspaces/{personas.workspace.public_id}/integrations/"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(base + "imports/", {"spec": PETSTORE_30.read_text()},
                               format="json")
    assert response.status_code == 202
    spec_import = response.json()
    assert spec_import["operation_count"] == 3 and spec_import["source"] == "paste"
    status = client.get(base + f"imports/{spec_import['id']}/").json()
    assert status["status"] == "ready" and status["error"] is None
    ops = client.get(base + f"imports/{spec_import['id']}/operations/").json()
    assert [o["key"] for o in ops] == ["get:/pets", "post:/pets", "get:/pets/{petId}"]
    found = client.get(base + f"imports/{spec_import['id']}/operations/",
                       {"search": "showpetbyid"}).json()
    assert [o["key"] for o in found] == ["get:/pets/{petId}"]
    secret_value = canary()
    response = client.post(base, {
        "import_id": spec_import["id"], "slug": "pets", "name": "Pets",
        "operations": ["get:/pets", "get:/pets/{petId}"],
        "headers": [{"name": "X-Api-Key", "value": secret_value},
                    {"name": "X-Tenant", "value": "acme"}]}, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["base_url"] == "http://petstore.swagger.io/v1"  # from the spec
    assert created["headers"] == [{"name": "X-Api-Key", "sensitive": True, "value": None},
                                  {"name": "X-Tenant", "sensitive": False, "value": "acme"}]
    assert secret_value not in response.content.decode()
    url = base + created["id"] + "/"
    assert [i["slug"] for i in client.get(base).json()] == ["pets"]
    operations = client.get(url + "operations/").json()
    assert operations[1]["params"] == {"pathParams": {"petId": "string"}}
    assert operations[1]["snippet"].startswith(
        'const result = await client.integrations.custom.call("pets", "get:/pets/{petId}"')
    # headers: keep the sensitive one by omitting its value
    response = client.put(url + "headers/", {"headers": [
        {"name": "X-Api-Key"}, {"name": "X-Tenant", "value": "globex"}]}, format="json")
    assert response.status_code == 200
    integration = services.WorkspaceIntegration.objects.get(public_id=created["id"])
    assert services.integration_headers(integration) == {"X-Api-Key": secret_value,
                                                         "X-Tenant": "globex"}
    response = client.patch(url, {"operations": ["post:/pets"], "name": "Pet store"},
                            format="json")
    assert response.json()["operations"] == ["post:/pets"]
    assert response.json()["config_version"] == created["config_version"] + 2
    # 31 operations are refused by the server
    with django_capture_on_commit_callbacks(execute=True):
        big = client.post(base + "imports/", {"spec": generated_spec(40)}, format="json").json()
    keys = [o["key"] for o in client.get(base + f"imports/{big['id']}/operations/").json()]
    response = client.post(base, {"import_id": big["id"], "slug": "big", "name": "Big",
                                  "operations": keys[:31]}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "too_many_operations"
    # a broken spec: a clear message at once
    response = client.post(base + "imports/", {"spec": "openapi: 3.0.0\npaths: [}"},
                           format="json")
    assert response.status_code == 400 and response.json()["code"] == "not_json_or_yaml"
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_api_url_import_refresh_and_apply(api, personas, django_capture_on_commit_callbacks):
    client = api(personas.owner)
    base = f"/api/v1/workspaces/{personas.workspace.public_id}/integrations/"
    upstream = Upstream()
    try:
        spec_url = serve(upstream, "/openapi.json", json.dumps(CONTACTS_V1))
        with egress_to(upstream), django_capture_on_commit_callbacks(execute=True):
            response = client.post(base + "imports/", {"url": spec_url}, format="json")
        assert response.status_code == 202 and response.json()["status"] == "pending"
        imported = client.get(base + f"imports/{response.json()['id']}/").json()
        assert imported["status"] == "ready" and imported["operation_count"] == 4
        created = client.post(base, {
            "import_id": imported["id"], "slug": "crm", "name": "CRM",
            "base_url": "https://crm.example.com",
            "operations": ["get:/contacts", "delete:/contacts/{id}"]}, format="json").json()
        serve(upstream, "/openapi.json", json.dumps(contacts_v2()))
        url = base + created["id"] + "/"
        with egress_to(upstream), django_capture_on_commit_callbacks(execute=True):
            refresh = client.post(url + "refresh/").json()
        refresh = client.get(base + f"imports/{refresh['id']}/").json()
        assert refresh["purpose"] == "refresh" and refresh["integration"] == created["id"]
        assert refresh["diff"]["affected"] == ["delete:/contacts/{id}"]
        assert refresh["diff"]["added"] == ["get:/groups"]
        applied = client.post(url + "refresh/apply/", {"import_id": refresh["id"]},
                              format="json").json()
        assert applied["dropped"] == ["delete:/contacts/{id}"]
        assert applied["integration"]["operations"] == ["get:/contacts"]
    finally:
        upstream.close()


def test_members_never_see_header_values(api, personas):
    integration = make_integration(personas.workspace, personas.admin,
                                   headers=[HeaderInput("X-Tenant", "acme")])
    url = (f"/api/v1/workspaces/{personas.workspace.public_id}/integrations/"
           f"{integration.public_id}/")
    as_member = api(personas.member).get(url).json()
    assert as_member["headers"] == [{"name": "X-Tenant", "sensitive": False, "value": None}]
    assert api(personas.admin).get(url).json()["headers"][0]["value"] == "acme"


def test_canary_header_value_leaks_nowhere(personas, api, sdk, caplog):
    caplog.set_level(logging.DEBUG)
    p = personas
    secret_value = canary()
    integration = make_integration(p.workspace, p.admin, headers=[
        HeaderInput("Authorization", f"Bearer {secret_value}"), HeaderInput("X-Tenant", "a")])
    CallLog.objects.create(request_id="r1", workspace=p.workspace, app=p.app,
                           integration=integration, integration_slug=integration.slug,
                           operation="get:/contacts", caller_kind="service", phase="responded",
                           response_status=200)
    spec_import = SpecImport.objects.get(pk=integration.spec_id)
    values = {"workspace_id": p.workspace.public_id, "app_id": p.app.public_id,
              "integration_id": integration.public_id, "import_id": spec_import.public_id,
              "slug": integration.slug,
              "membership_id": str(Membership.objects.get(workspace=p.workspace,
                                                          user=p.member).pk)}
    page_clients = {"anonymous": Client()}
    for role in ("outsider", "member", "admin", "owner"):
        page_clients[role] = Client()
        page_clients[role].force_login(getattr(p, role))
    api_clients = {f"pat-{role}": api(getattr(p, role)) for role in ("member", "admin",
                                                                     "owner", "outsider")}
    api_clients["sdk-service"] = sdk(p.app)
    report = walker.walk(values, page_clients=page_clients, api_clients=api_clients)
    visited = report.urls()
    assert f"/w/{p.workspace.public_id}/integrations/{integration.public_id}/edit/" in visited
    ok = [v for v in report.visits if v.caller == "admin" and v.status == 200
          and "/integrations/" in v.url]
    assert len(ok) >= 6
    report.assert_clean([secret_value])
    assert secret_value not in caplog.text
    assert walker.scan_database([secret_value]) == []
    # the Django admin too
    staff = Client()
    p.owner.is_staff = p.owner.is_superuser = True
    p.owner.save()
    staff.force_login(p.owner)
    walker.walk_admin(staff).assert_clean([secret_value])


def test_api_refused_edits_and_the_blocked_save_change_nothing(api, personas, settings):
    from cryptography.fernet import Fernet

    secret_value = canary()
    integration = make_integration(personas.workspace, personas.admin, keys=["get:/contacts"],
                                   headers=[HeaderInput("Authorization", secret_value),
                                            HeaderInput("X-Tenant", "acme")])
    client = api(personas.admin)
    url = (f"/api/v1/workspaces/{personas.workspace.public_id}/integrations/"
           f"{integration.public_id}/")
    before = client.get(url).json()
    # a refused edit: a 400 that names the field, and nothing of the request is applied
    response = client.patch(url, {"name": "Renamed", "slug": "Bad Slug",
                                  "operations": ["get:/contacts", "post:/contacts"]},
                            format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_slug"
    response = client.patch(url, {"operations": ["get:/nope"]}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "unknown_operation"
    assert client.get(url).json() == before
    # the key the header was encrypted with is gone: every save is blocked
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    for method, path, body in [
        ("patch", url, {"name": "Renamed"}),
        ("put", url + "headers/", {"headers": [{"name": "Authorization"},
                                               {"name": "X-Tenant", "value": "globex"}]}),
    ]:
        response = getattr(client, method)(path, body, format="json")
        assert response.status_code == 400, response.json()
        assert response.json()["code"] == "headers_unavailable"
        assert "Saving is blocked" in response.json()["detail"]
        assert "Authorization" in response.json()["detail"]
        assert secret_value not in response.content.decode()
    assert client.get(url).json() == before
    # replacing the broken header explicitly is the way out
    response = client.put(url + "headers/", {"headers": [
        {"name": "Authorization", "value": "Bearer new"}, {"name": "X-Tenant"}]},
        format="json")
    assert response.status_code == 200
    integration.refresh_from_db()
    assert services.integration_headers(integration) == {"Authorization": "Bearer new",
                                                         "X-Tenant": "acme"}


def test_api_imports_big_specs_as_json_yaml_or_a_file(api, personas):
    """Real specs are bigger than Django's 2.5 MB request-body default: the import endpoint
    takes specs up to the 25 MiB cap, in every form the README shows."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from integrations.api import views as api_views
    from tests.integrations.wizard_support import SPECS

    client = api(personas.admin)
    base = f"/api/v1/workspaces/{personas.workspace.public_id}/integrations/imports/"
    stripe = (SPECS / "stripe-2022-04-3.0.json").read_text()  # 4.2 MB
    openai = (SPECS / "openai-3.1.yaml").read_bytes()  # 3.0 MB
    cases = [
        ("a JSON string in the envelope", {"data": {"spec": stripe}, "format": "json"}, 417),
        ("the JSON spec as the body", {"data": stripe, "content_type": "application/json"}, 417),
        ("YAML as the body", {"data": openai, "content_type": "application/yaml"}, 288),
        ("a file upload", {"data": {"spec": SimpleUploadedFile("openai.yaml", openai)},
                           "format": "multipart"}, 288),
    ]
    for label, kwargs, count in cases:
        response = client.post(base, **kwargs)
        assert response.status_code == 202, (label, response.content[:300])
        assert response.json()["operation_count"] == count, label
        stored = SpecImport.objects.get(public_id=response.json()["id"])
        assert stored.source == "paste" and stored.size_bytes > 2_500_000
    # over the cap: a clear 400, nothing stored
    before = SpecImport.objects.count()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(api_views._SpecBodyParser, "limit", 1000)
        response = client.post(base, {"spec": stripe}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "too_large"
    assert "too large" in response.json()["detail"]
    response = client.post(base, "openapi: 3.0.0\npaths: [}", content_type="application/yaml")
    assert response.status_code == 400 and response.json()["code"] == "not_json_or_yaml"
    assert "line 2" in response.json()["detail"]
    assert SpecImport.objects.count() == before


def test_api_body_that_is_not_json_is_read_as_the_spec(api, personas):
    client = api(personas.admin)
    base = f"/api/v1/workspaces/{personas.workspace.public_id}/integrations/imports/"
    # YAML sent with the JSON content type (curl -d @openapi.yaml)
    response = client.post(base, PETSTORE_30.read_text(), content_type="application/json")
    assert response.status_code == 202 and response.json()["operation_count"] == 3
    # a broken JSON spec: the answer says where
    response = client.post(base, '{"openapi": "3.0.0", "info": {"title": "x"',
                           content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "not_json_or_yaml"
    assert "line 1, column" in response.json()["detail"]


def test_the_list_endpoint_runs_a_bounded_number_of_queries(api, personas):
    """The same number of queries for one integration or five (headers are prefetched)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api(personas.member)
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/integrations/"

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    make_integration(personas.workspace, personas.admin, slug="crm-0",
                     headers=[HeaderInput("X-Api-Key", "k"), HeaderInput("X-Tenant", "t")])
    count()  # warm: the token's last-used stamp is written once
    one = count()
    for n in range(1, 5):
        make_integration(personas.workspace, personas.admin, slug=f"crm-{n}",
                         headers=[HeaderInput("X-Api-Key", "k"), HeaderInput("X-Tenant", "t")])
    assert len(client.get(url).json()) == 5
    assert count() == one
