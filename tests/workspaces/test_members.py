from __future__ import annotations

import re

import pytest
from django.core import mail

from tests.factories import UserFactory
from workspaces import services
from workspaces.models import Membership, Role

pytestmark = pytest.mark.django_db


def invite_link(body: str) -> str:
    return re.search(r"http://testserver(/invite/[^\s]+)", body).group(1)


def open_invitation(client, inv) -> str:  # type: ignore[no-untyped-def]
    """What the e-mailed link's page does: POST the token from the URL fragment."""
    path = f"/invite/{inv.public_id}/"
    client.post(path, {"action": "open", "token": services.invitation_token(inv)})
    return path


def test_invitation_email_link_joins_the_workspace(client, personas,
                                                  django_capture_on_commit_callbacks):
    client.force_login(personas.admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/w/{personas.workspace.public_id}/members/",
                               {"email": "New.Person@example.com", "role": "admin"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new.person@example.com"]
    path, token = invite_link(mail.outbox[0].body).split("#")

    newcomer = UserFactory(email="new.person@example.com")
    client.force_login(newcomer)
    assert client.get(path).status_code == 200
    assert client.post(path, {"action": "open", "token": token}).status_code == 302
    response = client.post(path, {"action": "accept"})
    assert response.status_code == 302
    membership = Membership.objects.get(workspace=personas.workspace, user=newcomer)
    assert membership.role == Role.ADMIN


def test_invitation_for_someone_else_is_refused(client, personas):
    inv = services.invite(personas.workspace, actor=personas.owner, email="bob@example.com")
    client.force_login(personas.outsider)
    path = open_invitation(client, inv)
    response = client.post(path, {"action": "accept"})
    assert response.status_code == 400
    assert b"This invitation is for bob@example.com" in response.content
    assert not Membership.objects.filter(workspace=personas.workspace,
                                         user=personas.outsider).exists()


def test_expired_and_tampered_invitations(client, personas, settings):
    inv = services.invite(personas.workspace, actor=personas.owner, email="outsider@example.com")
    token = services.invitation_token(inv)
    client.force_login(personas.outsider)
    path = f"/invite/{inv.public_id}/"
    assert b"not valid" in client.post(path, {"action": "open", "token": token + "x"}).content
    open_invitation(client, inv)
    settings.INVITATION_MAX_AGE_SECONDS = -1
    response = client.post(path, {"action": "open", "token": token})
    assert response.status_code == 400 and b"expired" in response.content
    # opened before it expired: accepting afterwards is refused too
    response = client.post(path, {"action": "accept"})
    assert response.status_code == 400 and b"expired" in response.content


def test_withdrawn_invitation_cannot_be_used(client, personas):
    inv = services.invite(personas.workspace, actor=personas.owner, email="outsider@example.com")
    client.force_login(personas.outsider)
    path = open_invitation(client, inv)
    services.revoke_invitation(inv, actor=personas.owner)
    response = client.post(path, {"action": "accept"})
    assert response.status_code == 400 and b"withdrawn" in response.content
    response = client.post(path, {"action": "open", "token": services.invitation_token(inv)})
    assert response.status_code == 400 and b"withdrawn" in response.content


def test_admin_cannot_invite_an_owner(api, personas):
    response = api(personas.admin).post(
        f"/api/v1/workspaces/{personas.workspace.public_id}/invitations/",
        {"email": "x@example.com", "role": "owner"}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "Only an owner can invite another owner."


def test_personal_workspace_takes_no_invitations(db):
    user = services.sign_up(email="solo@example.com", password="pw-12345-abc")
    ws = services.personal_workspace(user)
    with pytest.raises(services.ServiceError, match="personal workspace is just for you"):
        services.invite(ws, actor=user, email="friend@example.com")


class TestLastOwner:
    def test_last_owner_cannot_be_demoted(self, api, personas):
        url = (f"/api/v1/workspaces/{personas.workspace.public_id}/members/"
               f"{personas.owner.pk}/")
        response = api(personas.owner).patch(url, {"role": "admin"}, format="json")
        assert response.status_code == 400
        assert response.json()["code"] == "last_owner"
        assert Membership.objects.get(workspace=personas.workspace,
                                      user=personas.owner).role == Role.OWNER

    def test_last_owner_cannot_leave(self, client, personas):
        m = Membership.objects.get(workspace=personas.workspace, user=personas.owner)
        client.force_login(personas.owner)
        response = client.post(f"/w/{personas.workspace.public_id}/members/{m.pk}/remove/",
                               follow=True)
        assert b"at least one owner" in response.content
        assert Membership.objects.filter(pk=m.pk).exists()

    def test_owner_can_leave_after_naming_another(self, api, personas):
        ws = personas.workspace.public_id
        owner_api = api(personas.owner)
        assert owner_api.patch(f"/api/v1/workspaces/{ws}/members/{personas.admin.pk}/",
                               {"role": "owner"}, format="json").status_code == 200
        assert owner_api.delete(
            f"/api/v1/workspaces/{ws}/members/{personas.owner.pk}/").status_code == 204

    def test_admin_cannot_demote_an_owner(self, api, personas):
        response = api(personas.admin).patch(
            f"/api/v1/workspaces/{personas.workspace.public_id}/members/{personas.owner.pk}/",
            {"role": "member"}, format="json")
        assert response.status_code == 403

    def test_member_can_leave_but_not_remove_others(self, api, personas):
        ws = personas.workspace.public_id
        member_api = api(personas.member)
        assert member_api.delete(
            f"/api/v1/workspaces/{ws}/members/{personas.admin.pk}/").status_code == 403
        assert member_api.delete(
            f"/api/v1/workspaces/{ws}/members/{personas.member.pk}/").status_code == 204

    def test_admin_removes_member(self, client, personas):
        m = Membership.objects.get(workspace=personas.workspace, user=personas.member)
        client.force_login(personas.admin)
        client.post(f"/w/{personas.workspace.public_id}/members/{m.pk}/remove/")
        assert not Membership.objects.filter(pk=m.pk).exists()
        # and the removed member no longer sees it
        client.force_login(personas.member)
        assert client.get(f"/w/{personas.workspace.public_id}/apps/").status_code == 404
