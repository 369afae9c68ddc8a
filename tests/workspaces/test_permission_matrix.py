"""Every dashboard page and admin-API endpoint of the foundation, as every persona.

anonymous -> login redirect (pages) / 401 (API); outsider -> 404; member -> allowed reads,
403 on admin actions; admin and owner -> allowed.
"""

from __future__ import annotations

import pytest

from tests.conftest import RANK, ROLES, expect_for_role, login_as, persona_user

pytestmark = pytest.mark.django_db

# (url template, method, least role that may do it)
PAGES = [
    ("/w/{ws}/apps/", "get", "member"),
    ("/w/{ws}/apps/{app}/", "get", "member"),
    ("/w/{ws}/members/", "get", "member"),
    ("/w/{ws}/credits/", "get", "member"),
    ("/w/{ws}/settings/", "get", "member"),
]

PAGE_POSTS = [
    ("/w/{ws}/members/", {"email": "new@example.com", "role": "member"}, "admin"),
    ("/w/{ws}/settings/", {"action": "rename", "name": "Renamed"}, "admin"),
    ("/w/{ws}/settings/", {"action": "plan", "plan": "pro"}, "owner"),
    ("/w/{ws}/apps/{app}/", {"action": "token", "name": "ci"}, "admin"),
    ("/w/{ws}/apps/{app}/", {"action": "update", "name": "Renamed app"}, "admin"),
    ("/w/{ws}/apps/", {"name": "New app"}, "member"),
]

def fill(url: str, p) -> str:  # type: ignore[no-untyped-def]
    return url.format(ws=p.workspace.public_id, app=p.app.public_id)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url,method,least", PAGES)
def test_pages(client, personas, role, url, method, least):
    login_as(client, personas, role)
    expect_for_role(getattr(client, method)(fill(url, personas)), role, least)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url,data,least", PAGE_POSTS)
def test_page_actions(client, personas, role, url, data, least):
    login_as(client, personas, role)
    response = client.post(fill(url, personas), data)
    # 302: the action was done (a 200 would be the form shown again with an error)
    expect_for_role(response, role, least, allowed=(302,))
    if role not in ("anonymous", "outsider") and RANK[role] >= RANK[least]:
        assert not response.url.startswith("/login/")


API = [
    ("get", "/api/v1/workspaces/{ws}/", None, "member"),
    ("patch", "/api/v1/workspaces/{ws}/", {"name": "X"}, "admin"),
    ("patch", "/api/v1/workspaces/{ws}/", {"plan": "pro"}, "owner"),
    ("get", "/api/v1/workspaces/{ws}/members/", None, "member"),
    ("get", "/api/v1/workspaces/{ws}/invitations/", None, "admin"),
    ("post", "/api/v1/workspaces/{ws}/invitations/", {"email": "x@example.com"}, "admin"),
    ("get", "/api/v1/workspaces/{ws}/apps/", None, "member"),
    ("post", "/api/v1/workspaces/{ws}/apps/", {"name": "api app"}, "member"),
    ("get", "/api/v1/workspaces/{ws}/apps/{app}/", None, "member"),
    ("patch", "/api/v1/workspaces/{ws}/apps/{app}/", {"name": "Y"}, "admin"),
    ("get", "/api/v1/workspaces/{ws}/apps/{app}/service-tokens/", None, "admin"),
    ("post", "/api/v1/workspaces/{ws}/apps/{app}/service-tokens/", {"name": "t"}, "admin"),
    ("get", "/api/v1/workspaces/{ws}/credits/", None, "member"),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,url,data,least", API)
def test_api(api, personas, role, method, url, data, least):
    client = api(persona_user(personas, role))
    response = getattr(client, method)(fill(url, personas), data, format="json")
    body = response.json()
    assert "detail" in body or response.status_code < 400
    if role == "anonymous":
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
    elif role == "outsider":
        assert response.status_code == 404
    elif RANK[role] >= RANK[least]:
        assert response.status_code in (200, 201), body
    else:
        assert response.status_code == 403
        assert body["code"] == "permission_denied"


def test_member_manages_the_app_they_created(api, personas):
    client = api(personas.member)
    created = client.post(f"/api/v1/workspaces/{personas.workspace.public_id}/apps/",
                          {"name": "Mine"}, format="json").json()
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/apps/{created['id']}/"
    assert client.patch(url, {"name": "Mine, renamed"}, format="json").status_code == 200
    # ... but not switch on anonymous calls (tests/workspaces/test_anonymous_calls.py)
    assert client.patch(url, {"allow_anonymous_integration_calls": True},
                        format="json").status_code == 403
    tokens = client.post(url + "service-tokens/", {"name": "mine"}, format="json")
    assert tokens.status_code == 201


def test_workspace_list_shows_only_my_workspaces(api, personas):
    names = {w["name"] for w in api(personas.member).get("/api/v1/workspaces/").json()}
    assert "Acme" in names and "Globex" not in names


def test_home_returns_to_the_last_workspace_used(client, personas):
    client.force_login(personas.member)
    client.get(f"/w/{personas.workspace.public_id}/credits/")
    assert client.get("/").url == f"/w/{personas.workspace.public_id}/apps/"


def test_list_pages_have_a_query_ceiling(client, personas, django_assert_max_num_queries):
    from tests.factories import make_app
    from workspaces import credits

    for i in range(15):
        make_app(personas.workspace, personas.owner, f"App {i}")
        credits.charge(personas.workspace, 1, reason="x", idempotency_key=f"q{i}")
    client.force_login(personas.owner)
    ws = personas.workspace.public_id
    for url in (f"/w/{ws}/apps/", f"/w/{ws}/credits/", f"/w/{ws}/members/", "/workspaces/"):
        with django_assert_max_num_queries(14):
            assert client.get(url).status_code == 200


@pytest.mark.parametrize("role", ROLES)
def test_destructive_endpoints_from_every_side(api, client, personas, role):
    """Revoking a service token, withdrawing an invitation and changing a role need an admin."""
    from workspaces import services
    from workspaces.models import Invitation, Membership

    ws = personas.workspace.public_id
    token, _ = services.create_service_token(personas.app, actor=personas.owner, name="t")
    inv = services.invite(personas.workspace, actor=personas.owner, email="inv@example.com")
    target = Membership.objects.get(workspace=personas.workspace, user=personas.member)
    user = persona_user(personas, role)
    c = api(user)
    responses = [
        c.delete(f"/api/v1/workspaces/{ws}/apps/{personas.app.public_id}/service-tokens/"
                 f"{token.pk}/"),
        c.delete(f"/api/v1/workspaces/{ws}/invitations/{inv.pk}/"),
        c.patch(f"/api/v1/workspaces/{ws}/members/{personas.member.pk}/", {"role": "admin"},
                format="json"),
    ]
    if user:
        client.force_login(user)
    pages = [
        client.post(f"/w/{ws}/invitations/{inv.pk}/revoke/"),
        client.post(f"/w/{ws}/members/{target.pk}/role/", {"role": "admin"}),
    ]
    token.refresh_from_db()
    inv.refresh_from_db()
    target.refresh_from_db()
    expected_api = {"anonymous": 401, "outsider": 404, "member": 403}.get(role)
    if expected_api:
        assert [r.status_code for r in responses] == [expected_api] * 3
        assert token.revoked_at is None and inv.revoked_at is None and target.role == "member"
        for page in pages:
            if role == "anonymous":
                assert page.status_code == 302 and page.url.startswith("/login/")
            else:
                assert page.status_code == {"outsider": 404, "member": 403}[role]
    else:
        assert [r.status_code for r in responses] == [204, 204, 200]
        assert token.revoked_at is not None and target.role == "admin"
        assert Invitation.objects.get(pk=inv.pk).revoked_at is not None


def test_outsider_cannot_see_other_workspace_objects_by_id(api, personas):
    """Addressing another workspace's app through my own workspace id is a 404 too."""
    mine = personas.outsider_workspace.public_id
    response = api(personas.outsider).get(
        f"/api/v1/workspaces/{mine}/apps/{personas.app.public_id}/")
    assert response.status_code == 404
