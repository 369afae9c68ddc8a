"""Every catalog page and endpoint from the wrong side: anonymous, outsider (404, even through
their own workspace for a private integration), member vs admin, non-staff on reviewer pages."""

from __future__ import annotations

import pytest

from catalog import services
from tests.catalog.conftest import make_integration
from tests.conftest import RANK, ROLES, expect_for_role, login_as, persona_user

pytestmark = pytest.mark.django_db



@pytest.fixture
def objs(personas):  # type: ignore[no-untyped-def]
    """A private integration created by the owner (so a plain member may use but not edit it),
    a public draft by the owner, and one in review."""
    private = make_integration(personas.workspace, personas.owner, slug="private",
                               visibility="private")
    draft = make_integration(personas.workspace, personas.owner, slug="draft")
    in_review = make_integration(personas.workspace, personas.owner, slug="in-review")
    revision = services.submit_for_review(in_review, actor=personas.owner)
    return {"private": private, "draft": draft, "in_review": in_review, "revision": revision}


def fill(url: str, p, o) -> str:  # type: ignore[no-untyped-def]
    return url.format(ws=p.workspace.public_id, app=p.app.public_id,
                      i=o["private"].public_id, d=o["draft"].public_id,
                      r=o["in_review"].public_id, rev=o["revision"].pk)


def check(response, role: str, least: str, api: bool = False) -> None:  # type: ignore[no-untyped-def]
    expect_for_role(response, role, least, allowed=(200, 201, 204, 302),
                    anonymous=401 if api else None)


PAGES = [
    ("/w/{ws}/catalog/", "member"),
    ("/w/{ws}/catalog/?tab=private", "member"),
    ("/w/{ws}/catalog/mine/", "member"),
    ("/w/{ws}/catalog/new/", "member"),
    ("/w/{ws}/catalog/{i}/", "member"),
    ("/w/{ws}/catalog/{i}/edit/", "admin"),
    ("/w/{ws}/catalog/{i}/use/", "member"),
    ("/w/{ws}/apps/{app}/integrations/", "member"),
]

PAGE_POSTS = [
    ("/w/{ws}/catalog/{d}/submit/", {}, "admin"),
    ("/w/{ws}/catalog/{r}/withdraw/", {}, "admin"),
    ("/w/{ws}/catalog/{i}/delete/", {}, "admin"),
    ("/w/{ws}/catalog/{i}/edit/", {"name": "x"}, "admin"),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url,least", PAGES)
def test_pages(client, personas, objs, role, url, least):
    login_as(client, personas, role)
    check(client.get(fill(url, personas, objs)), role, least)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url,data,least", PAGE_POSTS)
def test_page_actions(client, personas, objs, role, url, data, least):
    login_as(client, personas, role)
    check(client.post(fill(url, personas, objs), data), role, least)


def test_the_creator_may_edit_their_own_integration_as_a_plain_member(client, personas):
    mine = make_integration(personas.workspace, personas.member, visibility="private")
    client.force_login(personas.member)
    ws = personas.workspace.public_id
    assert client.get(f"/w/{ws}/catalog/{mine.public_id}/edit/").status_code == 200
    assert client.post(f"/w/{ws}/catalog/{mine.public_id}/delete/").status_code == 302


def test_outsiders_never_see_private_integrations_through_their_own_workspace(
        client, personas, objs):
    client.force_login(personas.outsider)
    ows = personas.outsider_workspace.public_id
    for key in ("private", "draft", "in_review"):
        iid = objs[key].public_id
        assert client.get(f"/w/{ows}/catalog/{iid}/").status_code == 404
        assert client.get(f"/w/{ows}/catalog/{iid}/use/").status_code == 404
    page = client.get(f"/w/{ows}/catalog/?tab=private").content.decode()
    assert "OpenAI" not in page
    assert "OpenAI" not in client.get(f"/w/{ows}/catalog/").content.decode()


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url", ["/catalog/review/", "/catalog/review/{rev}/"])
def test_reviewer_pages_need_staff(client, personas, objs, reviewer, role, url):
    login_as(client, personas, role)
    response = client.get(fill(url, personas, objs))
    if role == "anonymous":
        assert response.status_code == 302 and response.url.startswith("/login/")
    else:
        assert response.status_code == 403
    client.force_login(reviewer)
    assert client.get(fill(url, personas, objs)).status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_non_staff_cannot_post_decisions(client, personas, objs, role):
    login_as(client, personas, role)
    response = client.post(fill("/catalog/review/{rev}/", personas, objs),
                           {"decision": "approve"})
    assert response.status_code in (302, 403)
    objs["revision"].refresh_from_db()
    assert objs["revision"].status == "submitted"


def test_notifications_need_login(client):
    assert client.get("/notifications/").url.startswith("/login/")
    assert client.get("/notifications/1/").url.startswith("/login/")


API = [
    ("get", "/api/v1/workspaces/{ws}/catalog/integrations/", None, "member"),
    ("post", "/api/v1/workspaces/{ws}/catalog/integrations/", "create", "member"),
    ("get", "/api/v1/workspaces/{ws}/catalog/integrations/{i}/", None, "member"),
    ("patch", "/api/v1/workspaces/{ws}/catalog/integrations/{i}/", {"name": "Renamed"}, "admin"),
    ("post", "/api/v1/workspaces/{ws}/catalog/integrations/{d}/submit/", {}, "admin"),
    ("post", "/api/v1/workspaces/{ws}/catalog/integrations/{r}/withdraw/", {}, "admin"),
    ("delete", "/api/v1/workspaces/{ws}/catalog/integrations/{i}/", None, "admin"),
    ("get", "/api/v1/workspaces/{ws}/apps/{app}/catalog-installations/", None, "member"),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,url,data,least", API)
def test_api(api, personas, objs, role, method, url, data, least):
    if data == "create":
        from tests.catalog.conftest import content

        data = {**content(slug=f"new-{role}"), "visibility": "private"}
    client = api(persona_user(personas, role))
    response = getattr(client, method)(fill(url, personas, objs), data, format="json")
    check(response, role, least, api=True)
    if response.status_code >= 400:
        assert set(response.json()) >= {"detail", "code"}


def test_api_outsider_gets_404_for_a_private_integration_of_another_workspace(api, personas,
                                                                              objs):
    client = api(personas.outsider)
    assert client.get(f"/api/v1/catalog/integrations/{objs['private'].public_id}/"
                      ).status_code == 404
    ows = personas.outsider_workspace.public_id
    assert client.get(f"/api/v1/workspaces/{ows}/catalog/integrations/"
                      f"{objs['private'].public_id}/").status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_api_public_catalog_and_checks_need_only_a_login(api, personas, objs, role):
    client = api(persona_user(personas, role))
    responses = [client.get("/api/v1/catalog/integrations/"),
                 client.post("/api/v1/catalog/checks/", {"prompt": "# x"}, format="json"),
                 client.get("/api/v1/notifications/")]
    for response in responses:
        assert response.status_code == (401 if role == "anonymous" else 200)


@pytest.mark.parametrize("role", ROLES)
def test_api_review_endpoints_need_staff(api, personas, objs, reviewer, role):
    client = api(persona_user(personas, role))
    expected = 401 if role == "anonymous" else 403
    assert client.get("/api/v1/catalog/reviews/").status_code == expected
    response = client.post(f"/api/v1/catalog/reviews/{objs['revision'].pk}/decision/",
                           {"decision": "approve"}, format="json")
    assert response.status_code == expected
    assert api(reviewer).get("/api/v1/catalog/reviews/").status_code == 200


def test_api_self_review_is_403(api, personas, objs):
    personas.owner.is_staff = True
    personas.owner.save()
    response = api(personas.owner).post(
        f"/api/v1/catalog/reviews/{objs['revision'].pk}/decision/", {"decision": "approve"},
        format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert "own submission" in response.json()["detail"]


@pytest.mark.parametrize("role", ROLES)
def test_api_install_and_uninstall_in_someone_elses_app(api, personas, objs, role):
    """The shared app was created by the owner: a plain member may neither add an integration
    to it nor remove one; outsiders don't learn it exists."""
    from catalog.models import Installation

    inst, _ = services.install_integration(personas.app, objs["private"], actor=personas.owner,
                                           values={})
    client = api(persona_user(personas, role))
    base = f"/api/v1/workspaces/{personas.workspace.public_id}/apps/{personas.app.public_id}/" \
           "catalog-installations/"
    response = client.post(base, {"integration": objs["draft"].public_id}, format="json")
    check(response, role, "admin", api=True)
    response = client.delete(f"{base}{inst.public_id}/")
    check(response, role, "admin", api=True)
    assert Installation.objects.filter(pk=inst.pk).exists() is (RANK[role] < RANK["admin"])


def test_revoked_tokens_are_refused(personas, objs, sdk):
    from rest_framework.test import APIClient

    from catalog.models import Installation
    from workspaces import services as ws_services
    from workspaces.models import AppServiceToken, PersonalAccessToken

    Installation.objects.create(app=personas.app, integration=objs["private"])
    _, raw = ws_services.create_personal_token(actor=personas.owner, name="soon revoked")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/catalog/integrations/"
    assert client.get(url).status_code == 200
    ws_services.revoke_personal_token(PersonalAccessToken.objects.get(user=personas.owner),
                                      actor=personas.owner)
    assert client.get(url).status_code == 401
    assert client.post("/api/v1/catalog/checks/", {"prompt": "# x"},
                       format="json").status_code == 401

    service = sdk(personas.app)
    sdk_url = f"/api/apps/{personas.app.public_id}/catalog-integrations"
    assert service.get(sdk_url).status_code == 200
    for token in AppServiceToken.objects.filter(app=personas.app):
        ws_services.revoke_service_token(token, actor=personas.owner)
    response = service.get(sdk_url)
    assert response.status_code == 401 and "OPENAI" not in response.content.decode()


@pytest.mark.parametrize("role", ROLES)
def test_pages_install_into_and_remove_from_someone_elses_app(client, personas, objs, role):
    """The dashboard's "Use this integration" and "Remove" on the owner's app: admins may, a
    plain member gets 403, outsiders 404, anonymous users the sign-in page; nothing changes for
    those refused."""
    from catalog.models import Installation
    from secrets_vault import services as vault

    inst, _ = services.install_integration(personas.app, objs["draft"], actor=personas.owner,
                                           values={})
    login_as(client, personas, role)
    ws, app = personas.workspace.public_id, personas.app.public_id
    response = client.post(f"/w/{ws}/catalog/{objs['private'].public_id}/use/",
                           {"app": app, "value__OPENAI_API_KEY": "sk-perm-CANARY"})
    check(response, role, "admin")
    allowed = RANK[role] >= RANK["admin"]
    assert Installation.objects.filter(app=personas.app,
                                       integration=objs["private"]).exists() is allowed
    assert ("OPENAI_API_KEY" in vault.secret_names(personas.workspace, personas.app)) is allowed
    response = client.post(f"/w/{ws}/apps/{app}/integrations/", {"installation": inst.public_id})
    check(response, role, "admin")
    assert Installation.objects.filter(pk=inst.pk).exists() is not allowed


def test_an_installation_of_another_workspaces_app_cannot_be_removed_through_your_own(
        client, api, personas):
    """The installation id is looked up inside the app in the URL: naming another workspace's
    installation through your own app is a 404 and removes nothing."""
    from catalog.models import Installation

    theirs = make_integration(personas.outsider_workspace, personas.outsider, visibility="private")
    inst, _ = services.install_integration(personas.outsider_app, theirs,
                                           actor=personas.outsider, values={})
    ws, app = personas.workspace.public_id, personas.app.public_id
    client.force_login(personas.owner)
    assert client.post(f"/w/{ws}/apps/{app}/integrations/",
                       {"installation": inst.public_id}).status_code == 404
    response = api(personas.owner).delete(
        f"/api/v1/workspaces/{ws}/apps/{app}/catalog-installations/{inst.public_id}/")
    assert response.status_code == 404
    assert Installation.objects.filter(pk=inst.pk).exists()
