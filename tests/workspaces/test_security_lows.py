"""Security issue 12, the "Low" items on the ground floor: sign-up races, links kept out of the
outbox and the logs, one pending invitation per address, invitation tokens kept out of URLs'
query strings and access logs, a uniform token-revoke answer, and control characters in names."""

from __future__ import annotations

import logging
import re
import threading

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction

from tests.factories import UserFactory
from workspaces import services
from workspaces.models import EmailMessage, Invitation, Membership, User

pytestmark = pytest.mark.django_db

DUPLICATE = "An account with this e-mail already exists. Sign in instead, or reset your password."


# --- 1. two sign-ups with one e-mail ----------------------------------------------------------


def test_a_sign_up_that_loses_the_race_gets_the_form_error_not_a_500(client, monkeypatch):
    """The row appears between the form's check and the insert (what a concurrent sign-up does):
    both checks say "free", the insert hits the unique index."""
    UserFactory(email="ann@example.com")  # the competing request's row
    monkeypatch.setattr(services, "email_taken", lambda email: False)
    response = client.post("/signup/", {"name": "Ann", "email": "Ann@Example.com",
                                        "password": "correct horse battery staple"})
    assert response.status_code == 200
    page = response.content.decode()
    assert DUPLICATE in page
    assert 'value="Ann@Example.com"' in page and 'value="Ann"' in page  # typed input kept
    assert User.objects.filter(email="ann@example.com").count() == 1


@pytest.mark.postgres
def test_two_concurrent_sign_ups_with_one_email_make_one_account(transactional_db, monkeypatch):
    barrier = threading.Barrier(2, timeout=5)
    real = User.objects.create_user

    def after_both_checked(**kwargs):  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        return real(**kwargs)

    monkeypatch.setattr(User.objects, "create_user", after_both_checked)
    outcomes: list[str] = []

    def attempt() -> None:
        try:
            services.sign_up(email="race@example.com", password="correct horse battery staple")
            outcomes.append("created")
        except services.ServiceError as exc:
            outcomes.append(f"{exc.code}:{exc.field}:{exc.message}")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["created", f"duplicate:email:{DUPLICATE}"]
    assert User.objects.filter(email="race@example.com").count() == 1


# --- 2. links never at rest in the outbox, never in a log -------------------------------------


def _outbox_rows() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {EmailMessage._meta.db_table}")  # noqa: S608
        return [" ".join(str(v) for v in row) for row in cursor.fetchall()]


def _all_text_in_db() -> str:
    """Every row of every table (raw SQL), as text: the outbox and anything else."""
    out = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            out += [" ".join(str(v) for v in row) for row in cursor.fetchall()]
    return "\n".join(out)


def test_invitation_and_reset_links_are_not_stored_or_logged_but_still_work(
        client, personas, caplog, django_capture_on_commit_callbacks, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    caplog.set_level(logging.DEBUG)
    client.force_login(personas.admin)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/w/{personas.workspace.public_id}/members/",
                    {"email": "new.person@example.com", "role": "member"})
    client.logout()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/password-reset/", {"email": "owner@example.com"})
    assert len(mail.outbox) == 2
    invite_url = re.search(r"(http://testserver/invite/\S+)", mail.outbox[0].body).group(1)
    reset_url = re.search(r"(http://testserver/reset/\S+/)", mail.outbox[1].body).group(1)
    invite_token = invite_url.split("#", 1)[1]
    reset_token = reset_url.rstrip("/").rsplit("/", 1)[1]
    assert len(invite_token) > 20 and len(reset_token) > 20

    rows = "\n".join(_outbox_rows())
    everything = _all_text_in_db()
    logs = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    for canary in (invite_token, reset_token, invite_url, reset_url):
        assert canary not in rows
        assert canary not in everything
        assert canary not in logs
    assert "Switchboard" in rows  # the outbox still holds the (link-free) messages

    # the links work: the reset sets a new password, the invitation joins the workspace
    response = client.get(reset_url.removeprefix("http://testserver"), follow=True)
    assert response.status_code == 200 and b"new_password1" in response.content
    form_url = response.redirect_chain[-1][0]
    response = client.post(form_url, {"new_password1": "another horse battery staple",
                                      "new_password2": "another horse battery staple"})
    assert response.status_code == 302
    assert User.objects.get(email="owner@example.com").check_password(
        "another horse battery staple")
    newcomer = UserFactory(email="new.person@example.com")
    client.force_login(newcomer)
    _accept_by_link(client, invite_url)
    assert Membership.objects.filter(workspace=personas.workspace, user=newcomer).exists()


def test_console_mail_backend_never_prints_a_link(capsys, settings,
                                                  django_capture_on_commit_callbacks, personas):
    """The worker's console backend (the default EMAIL_URL) prints mail to the worker's log."""
    from config.settings import base

    assert base.EMAIL_BACKEND == "workspaces.mail.ConsoleBackend"  # what consolemail:// means
    settings.EMAIL_BACKEND = base.EMAIL_BACKEND
    with django_capture_on_commit_callbacks(execute=True):
        inv = services.invite(personas.workspace, actor=personas.owner, email="x@example.com",
                              link_base="https://portal.example.com")
    printed = capsys.readouterr().out
    assert "x@example.com" in printed and inv.public_id not in printed
    assert "https://portal.example.com/invite/" not in printed
    assert "link hidden" in printed


# --- 4. one pending invitation per address and workspace ----------------------------------------


def test_a_second_invitation_replaces_the_first(client, personas):
    first = services.invite(personas.workspace, actor=personas.owner, email="bob@example.com")
    second = services.invite(personas.workspace, actor=personas.owner, email="Bob@example.com")
    first.refresh_from_db()
    assert first.revoked_at is not None and second.is_pending
    assert Invitation.objects.filter(workspace=personas.workspace, email="bob@example.com",
                                     accepted_at=None, revoked_at=None).count() == 1


def test_the_database_refuses_two_pending_invitations_to_one_address(personas):
    services.invite(personas.workspace, actor=personas.owner, email="bob@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        Invitation.objects.create(workspace=personas.workspace, email="bob@example.com")


@pytest.mark.postgres
def test_two_concurrent_invitations_leave_one_pending(transactional_db, personas, monkeypatch):
    barrier = threading.Barrier(2, timeout=3)
    real = Invitation.objects.create

    def after_both_revoked(**kwargs):  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        return real(**kwargs)

    monkeypatch.setattr(Invitation.objects, "create", after_both_revoked)
    errors: list[Exception] = []

    def attempt() -> None:
        try:
            services.invite(personas.workspace, actor=personas.owner, email="race@example.com")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []  # both answered "sent": the later one replaced the earlier
    rows = Invitation.objects.filter(workspace=personas.workspace, email="race@example.com")
    assert rows.count() == 2
    assert rows.filter(accepted_at=None, revoked_at=None).count() == 1


# --- 6. invitation tokens never in a query string (access logs, referrers) ----------------------


def _accept_by_link(client, url: str):  # type: ignore[no-untyped-def]
    """What the invitation page's script does: the token from the fragment is POSTed."""
    path, token = url.removeprefix("http://testserver").split("#", 1)
    response = client.get(path)
    assert response.status_code == 200 and token not in response.content.decode()
    response = client.post(path, {"action": "open", "token": token})
    assert response.status_code == 302 and response.url == path
    page = client.get(path)
    assert page.status_code == 200
    response = client.post(path, {"action": "accept"})
    return response


def test_accept_flow_keeps_the_token_out_of_every_url(client, personas,
                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.invite(personas.workspace, actor=personas.owner, email="new@example.com",
                        link_base="http://testserver")
    url = re.search(r"(http://testserver/invite/\S+)", mail.outbox[0].body).group(1)
    path, token = url.removeprefix("http://testserver").split("#", 1)
    assert token not in path and "?" not in url  # the server never sees the fragment

    # signed out: the token is POSTed, kept in the session, sign-in links name only the path
    response = client.post(path, {"action": "open", "token": token})
    assert response.status_code == 302 and token not in response.url
    page = client.get(path).content.decode()
    assert "Sign in" in page and token not in page
    for href in re.findall(r'href="([^"]+)"', page):
        assert token not in href
    user = UserFactory(email="new@example.com")
    client.force_login(user)  # keeps the session, as a real sign-in does
    response = client.post(path, {"action": "accept"})
    assert response.status_code == 302 and token not in response.url
    assert Membership.objects.filter(workspace=personas.workspace, user=user).exists()


def test_the_old_token_url_is_gone_and_a_wrong_token_is_refused(client, personas):
    inv = services.invite(personas.workspace, actor=personas.owner, email="outsider@example.com")
    token = services.invitation_token(inv)
    client.force_login(personas.outsider)
    assert client.get(f"/invitations/{token}/").status_code == 404
    other = services.invite(personas.workspace, actor=personas.owner, email="o2@example.com")
    # a token of another invitation does not open this one
    response = client.post(f"/invite/{inv.public_id}/",
                           {"action": "open", "token": services.invitation_token(other)})
    assert response.status_code == 400 and b"not valid" in response.content
    response = client.post(f"/invite/{inv.public_id}/", {"action": "accept"})
    assert response.status_code == 400
    assert not Membership.objects.filter(workspace=personas.workspace,
                                         user=personas.outsider).exists()


# --- 7. token revoke answers the same for another app's token and an unknown one -----------------


def test_revoking_another_apps_token_answers_like_an_unknown_token(sdk, personas):
    foreign = services.mint_app_user_token(personas.outsider_app, "u1").token
    url = f"/api/apps/{personas.app.public_id}/app-users/tokens/revoke"
    client = sdk(personas.app)
    answers = [client.post(url, {"token": t}, format="json")
               for t in (foreign, "not-a-token", foreign[:-4] + "AAAA")]
    assert {a.status_code for a in answers} == {400}
    assert answers[0].content == answers[1].content == answers[2].content
    assert b"another app" not in answers[0].content
    # and the foreign token still works for its own app
    own = sdk(personas.outsider_app)
    assert own.post(f"/api/apps/{personas.outsider_app.public_id}/app-users/tokens/revoke",
                    {"token": foreign}, format="json").status_code == 204


# --- 8. control characters in names --------------------------------------------------------------

BAD_NAMES = ["Acme\u202eexe.txt", "Ac\u200fme", "Acme\x1b[31m", "Acme\u2066", "Ac\tme"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_workspace_and_app_names_refuse_control_characters(client, personas, bad):
    client.force_login(personas.owner)
    ws = personas.workspace.public_id
    response = client.post(f"/w/{ws}/apps/", {"name": bad})
    assert response.status_code == 200
    page = response.content.decode()
    assert "invisible or control characters" in page
    assert not personas.workspace.apps.filter(name=bad).exists()
    assert bad.strip() in page  # what was typed is kept
    for name in (bad, "Acme\x00"):  # (a NUL never gets past the form: Django refuses it)
        with pytest.raises(services.ServiceError) as exc:
            services.update_workspace(personas.workspace, actor=personas.owner, name=name)
        assert exc.value.field == "name"


def test_api_and_token_names_refuse_control_characters(api, personas):
    client = api(personas.owner)
    response = client.post("/api/v1/workspaces/", {"name": "Evil\u202eWS"}, format="json")
    assert response.status_code == 400
    assert "invisible or control characters" in response.json()["errors"]["name"][0]
    with pytest.raises(services.ServiceError):
        services.create_personal_token(actor=personas.owner, name="ci\u2067")
    with pytest.raises(services.ServiceError):
        services.create_service_token(personas.app, actor=personas.owner, name="sdk\x07")
    response = client.patch(f"/api/v1/workspaces/{personas.workspace.public_id}/apps/"
                            f"{personas.app.public_id}/", {"name": "Store\u061cfront"},
                            format="json")
    assert response.status_code == 400
    personas.app.refresh_from_db()
    assert personas.app.name == "Storefront"


def test_ordinary_unicode_names_still_work(personas):
    app = services.create_app(personas.workspace, actor=personas.owner, name="Café – 東京 🚀")
    assert app.name == "Café – 東京 🚀"


def test_names_across_apps_refuse_control_characters(personas):
    """One rule (workspaces.validation.check_name), called by each app's create/rename service;
    each app's own error class, so its views and API show it at the name field."""
    from connectors import services as connectors
    from integrations import services as integrations
    from secrets_vault import services as vault
    from tests.integrations.wizard_support import make_integration

    ws, owner = personas.workspace, personas.owner
    with pytest.raises(vault.VaultError) as exc:
        vault.create_custom_api(ws, actor=owner, name="Billing\u202e", auth_type="bearer",
                                credential="k")
    assert exc.value.field == "name" and "invisible or control" in exc.value.message
    with pytest.raises(vault.VaultError):  # secret names were already A-Z, 0-9 and _ only
        vault.set_secret(ws, "KEY\u200e", "v", actor=owner)
    integration = make_integration(ws, owner)
    with pytest.raises(integrations.IntegrationError) as exc:
        integrations.update_integration(integration, actor=owner, name="Contacts\u2066")
    assert exc.value.field == "name"
    integration.refresh_from_db()
    assert integration.name == "Contacts"
    with pytest.raises(connectors.ConnectorError) as exc:
        connectors.create_connector(ws, actor=owner, name="Ours\x1b", client_id="cid",
                                    client_secret="s", authorize_url="https://a.example.com/a",
                                    token_url="https://a.example.com/t")
    assert exc.value.field == "name" and exc.value.status == 400


def test_the_rule_itself():
    from workspaces.validation import forbidden_characters

    assert forbidden_characters("a\u202ab\u202ec\u2066d\u2069e\u200ef\u200fg\u061ch") == [
        "U+202A", "U+202E", "U+2066", "U+2069", "U+200E", "U+200F", "U+061C"]
    assert forbidden_characters("x\x00\x1f\x7f\x85") == ["U+0000", "U+001F", "U+007F", "U+0085"]
    assert forbidden_characters("Zero\u200bwidth joiner \u200d, é, 東京, 🚀") == []
