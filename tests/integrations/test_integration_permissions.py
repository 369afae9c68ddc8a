"""Every integrations page and admin-API endpoint as every persona, plus the plan rules.

anonymous -> login redirect (pages) / 401 (API); outsider -> 404; member -> reads only (403 on
writes); admin and owner -> allowed. Free-plan and personal workspaces -> 403 (plan)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from integrations.models import SpecImport
from integrations.services import HeaderInput
from tests.conftest import ROLES, expect_for_role, login_as, persona_user
from tests.integrations.wizard_support import CONTACTS_V1, make_integration, ready_import
from workspaces.models import Membership, Role
from workspaces.services import create_workspace

pytestmark = pytest.mark.django_db



@dataclass
class Objects:
    ws: str
    integration: str
    spec_import: str


@pytest.fixture
def objs(personas) -> Objects:  # type: ignore[no-untyped-def]
    integration = make_integration(personas.workspace, personas.owner,
                                   headers=[HeaderInput("X-Api-Key", "k")])
    spec_import = ready_import(personas.workspace, personas.owner, CONTACTS_V1)
    return Objects(personas.workspace.public_id, integration.public_id, spec_import.public_id)


def fill(url: str, o: Objects) -> str:
    return url.format(ws=o.ws, i=o.integration, imp=o.spec_import)


PAGES = [
    ("/w/{ws}/integrations/", "member"),
    ("/w/{ws}/integrations/{i}/", "member"),
    ("/w/{ws}/integrations/new/", "admin"),
    ("/w/{ws}/integrations/imports/{imp}/", "admin"),
    ("/w/{ws}/integrations/imports/{imp}/status/", "admin"),
    ("/w/{ws}/integrations/imports/{imp}/operations/", "admin"),
    ("/w/{ws}/integrations/imports/{imp}/configure/", "admin"),
    ("/w/{ws}/integrations/{i}/edit/", "admin"),
    ("/w/{ws}/integrations/{i}/edit/operations/", "admin"),
    ("/w/{ws}/integrations/{i}/delete/", "admin"),
]

PAGE_POSTS = [
    ("/w/{ws}/integrations/new/", {"source": "paste", "spec": json.dumps(CONTACTS_V1)}),
    ("/w/{ws}/integrations/imports/{imp}/operations/", {"op": ["get:/contacts"]}),
    ("/w/{ws}/integrations/imports/{imp}/configure/", {"slug": "new-one", "name": "New",
                                                       "base_url": "https://api.example.com"}),
    ("/w/{ws}/integrations/{i}/edit/", {"slug": "contacts", "name": "X",
                                        "base_url": "https://api.example.com"}),
    ("/w/{ws}/integrations/{i}/edit/operations/", {"op": ["get:/contacts"]}),
    ("/w/{ws}/integrations/{i}/refresh/", {}),
    ("/w/{ws}/integrations/{i}/refresh/{imp}/apply/", {"choose": "1", "op": ["get:/contacts"]}),
    ("/w/{ws}/integrations/{i}/delete/", {}),
]


ALLOWED = (200, 201, 202, 204, 302, 400)  # done, or refused for its input (not for the caller)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url,least", PAGES)
def test_pages(client, personas, objs, role, url, least):
    login_as(client, personas, role)
    expect_for_role(client.get(fill(url, objs)), role, least, allowed=ALLOWED)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url,data", PAGE_POSTS)
def test_page_actions(client, personas, objs, role, url, data):
    login_as(client, personas, role)
    expect_for_role(client.post(fill(url, objs), data), role, "admin", allowed=ALLOWED)


API = [
    ("get", "/api/v1/workspaces/{ws}/integrations/", None, "member"),
    ("get", "/api/v1/workspaces/{ws}/integrations/{i}/", None, "member"),
    ("get", "/api/v1/workspaces/{ws}/integrations/{i}/headers/", None, "member"),
    ("get", "/api/v1/workspaces/{ws}/integrations/{i}/operations/", None, "member"),
    ("post", "/api/v1/workspaces/{ws}/integrations/imports/", {"spec": CONTACTS_V1}, "admin"),
    ("get", "/api/v1/workspaces/{ws}/integrations/imports/{imp}/", None, "admin"),
    ("get", "/api/v1/workspaces/{ws}/integrations/imports/{imp}/operations/", None, "admin"),
    ("post", "/api/v1/workspaces/{ws}/integrations/",
     {"import_id": "{imp}", "slug": "new-one", "name": "New", "operations": ["get:/contacts"]},
     "admin"),
    ("patch", "/api/v1/workspaces/{ws}/integrations/{i}/", {"name": "Renamed"}, "admin"),
    ("put", "/api/v1/workspaces/{ws}/integrations/{i}/headers/",
     {"headers": [{"name": "X-Api-Key"}]}, "admin"),
    ("post", "/api/v1/workspaces/{ws}/integrations/{i}/refresh/", None, "admin"),
    ("post", "/api/v1/workspaces/{ws}/integrations/{i}/refresh/apply/", {"import_id": "{imp}"},
     "admin"),
    ("delete", "/api/v1/workspaces/{ws}/integrations/{i}/", None, "admin"),
]


def fill_data(data, o: Objects):  # type: ignore[no-untyped-def]
    if data is None:
        return None
    text = json.dumps(data).replace("{imp}", o.spec_import).replace("{ws}", o.ws)
    return json.loads(text.replace('"{i}"', json.dumps(o.integration)))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,url,data,least", API)
def test_api(api, personas, objs, role, method, url, data, least):
    client = api(persona_user(personas, role))
    response = getattr(client, method)(fill(url, objs), fill_data(data, objs), format="json")
    expect_for_role(response, role, least, allowed=ALLOWED, anonymous=401)
    assert response.status_code == 204 or response["Content-Type"] == "application/json"


def _plan_cases(personas):  # type: ignore[no-untyped-def]
    personal = create_workspace(actor=personas.owner, name="Mine", kind="personal", plan="pro")
    free = create_workspace(actor=personas.owner, name="Free team", plan="free")
    Membership.objects.create(workspace=free, user=personas.admin, role=Role.ADMIN)
    return {"personal": personal, "free": free}


@pytest.mark.parametrize("case", ["personal", "free"])
def test_free_plan_and_personal_workspaces_are_refused(client, api, personas, case):
    ws = _plan_cases(personas)[case]
    client.force_login(personas.owner)
    listing = client.get(f"/w/{ws.public_id}/integrations/")
    assert listing.status_code == 403
    message = ("shared workspaces only" if case == "personal" else "Builder plan or higher")
    assert message in listing.content.decode()
    assert b"Add integration" not in listing.content
    page = client.get(f"/w/{ws.public_id}/integrations/new/")
    assert page.status_code == 403 and message in page.content.decode()
    response = client.post(f"/w/{ws.public_id}/integrations/new/",
                           {"source": "paste", "spec": json.dumps(CONTACTS_V1)})
    assert response.status_code == 403
    assert not SpecImport.objects.filter(workspace=ws).exists()
    owner_api = api(personas.owner)
    for method, url, data in [
        ("get", f"/api/v1/workspaces/{ws.public_id}/integrations/", None),
        ("post", f"/api/v1/workspaces/{ws.public_id}/integrations/imports/",
         {"spec": CONTACTS_V1}),
        ("post", f"/api/v1/workspaces/{ws.public_id}/integrations/imports/",
         {"url": "https://example.com/openapi.json"}),
    ]:
        response = getattr(owner_api, method)(url, data, format="json")
        assert response.status_code == 403
        assert response.json()["code"] == "plan_required"


def test_downgraded_workspace_can_still_delete(client, api, personas, objs):
    ws = personas.workspace
    ws.plan = "free"
    ws.save()
    client.force_login(personas.admin)
    listing = client.get(f"/w/{ws.public_id}/integrations/")
    assert listing.status_code == 403 and b"Contacts" in listing.content
    assert client.get(f"/w/{ws.public_id}/integrations/{objs.integration}/").status_code == 403
    response = api(personas.admin).delete(
        f"/api/v1/workspaces/{ws.public_id}/integrations/{objs.integration}/")
    assert response.status_code == 204


def test_outsider_cannot_reach_objects_through_their_own_workspace(client, personas, objs):
    client.force_login(personas.outsider)
    other = personas.outsider_workspace.public_id
    assert client.get(f"/w/{other}/integrations/{objs.integration}/").status_code == 404
    assert client.get(f"/w/{other}/integrations/imports/{objs.spec_import}/").status_code == 404


def test_a_revoked_token_is_refused_everywhere_and_changes_nothing(personas, objs):
    from rest_framework.test import APIClient

    from integrations.models import WorkspaceIntegration
    from workspaces import services as workspace_services

    token, raw = workspace_services.create_personal_token(actor=personas.owner, name="old")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    listing = f"/api/v1/workspaces/{objs.ws}/integrations/"
    assert client.get(listing).status_code == 200  # the token worked
    workspace_services.revoke_personal_token(token, actor=personas.owner)
    for method, url, data, _least in API:
        response = getattr(client, method)(fill(url, objs), fill_data(data, objs),
                                           format="json")
        assert response.status_code == 401, (method, url, response.status_code)
    integration = WorkspaceIntegration.objects.get(public_id=objs.integration)
    assert integration.name == "Contacts" and integration.config_version == 1
    assert SpecImport.objects.filter(workspace__public_id=objs.ws).count() == 2
