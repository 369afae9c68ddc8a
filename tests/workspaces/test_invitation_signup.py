"""Signing up from an invitation keeps it (issue 14 §4.6): the address is filled in, the new
account joins the workspace at once; sign-in comes back to the invitation; admins can copy the
new invitation's link, once."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from tests.factories import PASSWORD, UserFactory
from workspaces import services
from workspaces.models import Membership, User

pytestmark = pytest.mark.django_db

NEW = "newcomer@example.com"


def opened(client, personas, email: str = NEW):  # type: ignore[no-untyped-def]
    inv = services.invite(personas.workspace, actor=personas.owner, email=email)
    path = f"/invite/{inv.public_id}/"
    assert client.post(path, {"action": "open", "token": services.invitation_token(inv)}
                       ).status_code == 302
    return inv, path


def test_the_signed_out_invitation_page_offers_sign_up_carrying_the_invitation(client, personas):
    inv, path = opened(client, personas)
    html = client.get(path).content.decode()
    assert f'href="/signup/?next=/invite/{inv.public_id}/"' in html
    assert f'href="/login/?next=/invite/{inv.public_id}/"' in html
    signup = client.get(f"/signup/?next={path}").content.decode()
    assert f'value="{NEW}"' in signup  # the e-mail is filled in
    assert "You're joining <strong>Acme</strong>" in signup
    assert f'name="next" value="{path}"' in signup
    assert f'href="/login/?next=/invite/{inv.public_id}/"' in signup


def test_signing_up_from_the_invitation_joins_its_workspace(client, personas):
    inv, path = opened(client, personas)
    response = client.post("/signup/", {"name": "New", "email": NEW, "password": PASSWORD,
                                        "next": path}, follow=True)
    assert response.redirect_chain[-1][0] == f"/w/{personas.workspace.public_id}/apps/"
    assert "You joined Acme" in response.content.decode()
    user = User.objects.get(email=NEW)
    assert Membership.objects.get(workspace=personas.workspace, user=user).role == inv.role
    inv.refresh_from_db()
    assert inv.accepted_by == user


def test_a_different_address_gets_an_account_but_not_the_membership(client, personas):
    _, path = opened(client, personas)
    response = client.post("/signup/", {"email": "someone.else@example.com",
                                        "password": PASSWORD, "next": path})
    assert response.status_code == 302 and response["Location"] == path
    assert not Membership.objects.filter(workspace=personas.workspace,
                                         user__email="someone.else@example.com").exists()
    accept = client.post(path, {"action": "accept"})
    assert accept.status_code == 400 and f"This invitation is for {NEW}" in accept.content.decode()


def test_a_public_id_alone_reveals_no_address_and_joins_nothing(client, personas):
    """Without opening the invitation with its token in this browser, ?next= fills nothing in
    and a sign-up with the right address still doesn't join."""
    inv = services.invite(personas.workspace, actor=personas.owner, email=NEW)
    path = f"/invite/{inv.public_id}/"
    html = client.get(f"/signup/?next={path}").content.decode()
    assert NEW not in html and "You're joining" not in html
    client.post("/signup/", {"email": NEW, "password": PASSWORD, "next": path})
    assert User.objects.filter(email=NEW).exists()
    assert not Membership.objects.filter(workspace=personas.workspace, user__email=NEW).exists()


def test_next_must_stay_on_this_site(client, personas):
    response = client.post("/signup/", {"email": "x@example.com", "password": PASSWORD,
                                        "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/"


def test_sign_in_from_the_invitation_comes_back_to_it(client, personas):
    inv, path = opened(client, personas)
    UserFactory(email=NEW)
    login = client.get(f"/login/?next={path}").content.decode()
    assert f'href="/signup/?next=/invite/{inv.public_id}/"' in login
    response = client.post("/login/", {"username": NEW, "password": PASSWORD, "next": path})
    assert response["Location"] == path
    assert client.post(path, {"action": "accept"})["Location"] == \
        f"/w/{personas.workspace.public_id}/apps/"


def test_admins_copy_the_new_invite_link_once(client, personas,
                                              django_capture_on_commit_callbacks):
    client.force_login(personas.admin)
    members = f"/w/{personas.workspace.public_id}/members/"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(members, {"email": NEW, "role": "member"}, follow=True)
    html = response.content.decode()
    inv = personas.workspace.invitations.get(email=NEW)
    # the token is signed with a timestamp (in seconds): read it from the page, then check it
    # is this invitation's, rather than signing a second one that may carry the next second
    prefix = f"http://testserver/invite/{inv.public_id}/#"
    found = re.search(r'value="(' + re.escape(prefix) + r'[^"]+)"', html)
    assert found is not None, html
    link = found[1]
    token = link[len(prefix):]
    assert services.read_invitation(token) == inv
    assert f'value="{link}"' in html and "Copy invite link" in html
    assert 'data-copy-from="#invite-link"' in html and '<label for="invite-link"' in html
    # the same link as the e-mail's, and never again after this page
    assert mail.outbox[-1].body.count(link) == 1
    assert token not in client.get(members).content.decode()


def test_members_never_see_an_invite_link(client, personas):
    client.force_login(personas.member)
    members = f"/w/{personas.workspace.public_id}/members/"
    assert client.post(members, {"email": NEW, "role": "member"}).status_code == 403
    assert "Copy invite link" not in client.get(members).content.decode()
