"""Foundation actions the permission matrix does not reach, from the wrong side: another user's
token, a plain member on someone else's app, an outsider, anonymous callers, malformed ids and
SDK tokens of the wrong kind."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.conftest import ROLES, login_as, persona_user
from workspaces import services
from workspaces.models import App, AppServiceToken, Membership, PersonalAccessToken

pytestmark = pytest.mark.django_db


def app_url(p) -> str:  # type: ignore[no-untyped-def]
    return f"/w/{p.workspace.public_id}/apps/{p.app.public_id}/"


@pytest.mark.parametrize("token_id", ["abc", "1 OR 1=1", "-1", "", "²", "9" * 30])
def test_a_malformed_token_id_is_a_404_not_a_server_error(client, personas, token_id):
    client.raise_request_exception = False
    client.force_login(personas.owner)
    token, _ = services.create_service_token(personas.app, actor=personas.owner, name="keep")
    revoke_app = client.post(app_url(personas), {"action": "revoke-token", "token_id": token_id})
    revoke_mine = client.post("/tokens/", {"action": "revoke", "token_id": token_id})
    assert (revoke_app.status_code, revoke_mine.status_code) == (404, 404)
    token.refresh_from_db()
    assert token.revoked_at is None


def test_it_cannot_revoke_another_users_personal_token(client, api, personas):
    theirs, raw = services.create_personal_token(actor=personas.admin, name="theirs")
    client.force_login(personas.owner)
    page = client.post("/tokens/", {"action": "revoke", "token_id": theirs.pk})
    endpoint = api(personas.owner).delete(f"/api/v1/tokens/{theirs.pk}/")
    assert (page.status_code, endpoint.status_code) == (404, 404)
    assert PersonalAccessToken.objects.get(pk=theirs.pk).revoked_at is None
    # and it still works for its owner
    owner = api(None)
    owner.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert owner.get("/api/v1/workspaces/").status_code == 200


def test_personal_tokens_need_a_signed_in_user(client, api):
    page = client.get("/tokens/")
    assert page.status_code == 302 and page.url.startswith("/login/")
    assert api(None).get("/api/v1/tokens/").status_code == 401
    assert api(None).post("/api/v1/tokens/", {"name": "x"}, format="json").status_code == 401
    assert api(None).delete("/api/v1/tokens/1/").status_code == 401


def test_personal_token_list_shows_only_mine(client, api, personas):
    services.create_personal_token(actor=personas.admin, name="admins-laptop")
    client.force_login(personas.owner)
    assert "admins-laptop" not in client.get("/tokens/").content.decode()
    names = [t["name"] for t in api(personas.owner).get("/api/v1/tokens/").json()]
    assert "admins-laptop" not in names


@pytest.mark.parametrize("role", ROLES)
def test_revoking_a_service_token_and_deleting_an_app_from_every_side(client, api, personas,
                                                                       role):
    """The app was created by the owner: a plain member may look at it but not revoke its
    tokens or delete it, on the page or through the API."""
    token, _ = services.create_service_token(personas.app, actor=personas.owner, name="t")
    login_as(client, personas, role)
    page_revoke = client.post(app_url(personas), {"action": "revoke-token", "token_id": token.pk})
    page_delete = client.post(app_url(personas), {"action": "delete"})
    endpoint = (f"/api/v1/workspaces/{personas.workspace.public_id}/apps/"
                f"{personas.app.public_id}/")
    api_delete = api(persona_user(personas, role)).delete(endpoint)
    allowed = role in ("admin", "owner")
    if role == "anonymous":
        assert page_revoke.url.startswith("/login/") and page_delete.url.startswith("/login/")
        assert api_delete.status_code == 401
    elif not allowed:
        expected = {"outsider": 404, "member": 403}[role]
        assert [page_revoke.status_code, page_delete.status_code, api_delete.status_code] == [
            expected] * 3
    else:
        assert page_revoke.status_code == 302 and page_delete.status_code == 302
        assert api_delete.status_code == 404  # the page deleted it first
    token_row = AppServiceToken.objects.filter(pk=token.pk).first()
    assert App.objects.filter(pk=personas.app.pk).exists() is not allowed
    if not allowed:
        assert token_row is not None and token_row.revoked_at is None


def test_the_app_page_hides_token_controls_from_a_plain_member(client, personas):
    services.create_service_token(personas.app, actor=personas.owner, name="hidden-token")
    client.force_login(personas.member)
    html = client.get(app_url(personas)).content.decode()
    assert "hidden-token" not in html and "Create service token" not in html
    assert "Only the app's creator and workspace admins" in html


@pytest.mark.parametrize("role", ["anonymous", "outsider", "member"])
def test_removing_a_member_from_the_wrong_side(client, personas, role):
    target = Membership.objects.get(workspace=personas.workspace, user=personas.admin)
    login_as(client, personas, role)
    response = client.post(f"/w/{personas.workspace.public_id}/members/{target.pk}/remove/")
    if role == "anonymous":
        assert response.status_code == 302 and response.url.startswith("/login/")
    else:
        assert response.status_code == {"outsider": 404, "member": 403}[role]
    assert Membership.objects.filter(pk=target.pk).exists()


def test_an_anonymous_visitor_is_asked_to_sign_in_and_joins_nothing(client, personas):
    inv = services.invite(personas.workspace, actor=personas.owner, email="new@example.com")
    url = f"/invite/{inv.public_id}/"
    client.post(url, {"action": "open", "token": services.invitation_token(inv)})
    for response in (client.get(url), client.post(url, {"action": "accept"})):
        assert response.status_code == 200
        assert "Sign in" in response.content.decode()
    inv.refresh_from_db()
    assert inv.accepted_at is None


def test_invitation_sent_through_the_api_links_to_the_acceptance_page(
        api, client, personas, django_capture_on_commit_callbacks):
    from django.core import mail

    with django_capture_on_commit_callbacks(execute=True):
        response = api(personas.owner).post(
            f"/api/v1/workspaces/{personas.workspace.public_id}/invitations/",
            {"email": "outsider@example.com"}, format="json")
    assert response.status_code == 201
    link = next(line.strip() for line in mail.outbox[0].body.splitlines()
                if "/invite/" in line)
    path, token = link.removeprefix("http://testserver").split("#")
    client.force_login(personas.outsider)
    assert client.post(path, {"action": "open", "token": token}).status_code == 302
    assert client.post(path, {"action": "accept"}).status_code == 302
    assert Membership.objects.filter(workspace=personas.workspace,
                                     user=personas.outsider).exists()


class TestSdkTokensOfTheWrongKind:
    def test_a_service_token_is_not_an_app_user(self, sdk, personas):
        response = sdk(personas.app).get(f"/api/apps/{personas.app.public_id}/app-users/me")
        assert response.status_code == 403
        assert response.json()["detail"] == "This endpoint needs an app-user token."

    def test_an_app_user_cannot_revoke_tokens(self, sdk, personas):
        from rest_framework.test import APIClient

        token = services.mint_app_user_token(personas.app, "user-1").token
        user_client = APIClient()
        user_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = user_client.post(
            f"/api/apps/{personas.app.public_id}/app-users/tokens/revoke", {"token": token},
            format="json")
        assert response.status_code == 403
        # the token still works
        assert user_client.get(
            f"/api/apps/{personas.app.public_id}/app-users/me").status_code == 200

    def test_another_apps_service_token_cannot_revoke(self, sdk, personas):
        token = services.mint_app_user_token(personas.app, "user-1").token
        response = sdk(personas.outsider_app).post(
            f"/api/apps/{personas.app.public_id}/app-users/tokens/revoke", {"token": token},
            format="json")
        assert response.status_code == 404

    def test_a_token_of_another_app_is_not_revoked_through_mine(self, sdk, personas):
        theirs = services.mint_app_user_token(personas.outsider_app, "user-1").token
        response = sdk(personas.app).post(
            f"/api/apps/{personas.app.public_id}/app-users/tokens/revoke", {"token": theirs},
            format="json")
        assert response.status_code == 400
        assert response.json()["detail"] == "The app-user token is not valid."


def test_the_last_workspace_is_saved_only_when_it_changes(client, personas):
    """Every page reads the nav; the session is written (and its cookie re-sent) only when the
    workspace in view changes, not on every request."""
    client.force_login(personas.owner)
    credits = f"/w/{personas.workspace.public_id}/credits/"
    client.get(credits)
    again = client.get(credits)
    assert settings.SESSION_COOKIE_NAME not in again.cookies
    other = services.create_workspace(actor=personas.owner, name="Second")
    moved = client.get(f"/w/{other.public_id}/credits/")
    assert settings.SESSION_COOKIE_NAME in moved.cookies
    assert client.get("/").url == f"/w/{other.public_id}/apps/"
