from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import mail

from workspaces.models import CreditEntry, EmailMessage, Membership, User

pytestmark = pytest.mark.django_db


def test_sign_up_creates_personal_workspace_with_grant(client):
    response = client.post("/signup/", {"name": "Ada", "email": "Ada@Example.com",
                                        "password": "a-long-unusual-pass-42"})
    assert response.status_code == 302
    user = User.objects.get(email="ada@example.com")
    m = Membership.objects.get(user=user)
    assert m.role == "owner" and m.workspace.kind == "personal"
    grant = CreditEntry.objects.get(workspace=m.workspace)
    assert grant.kind == "grant" and grant.amount == 100
    page = client.get(response.url, follow=True)
    assert b"Ada&#x27;s workspace" in page.content or b"Ada's workspace" in page.content


def test_failed_sign_up_keeps_what_was_typed(client):
    response = client.post("/signup/", {"name": "Ada Lovelace", "email": "ada@example.com",
                                        "password": "123"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="Ada Lovelace"' in html and 'value="ada@example.com"' in html
    assert "too short" in html
    assert 'value="123"' not in html  # the password is never echoed
    assert not User.objects.exists()


def test_duplicate_email_is_refused(client, personas):
    response = client.post("/signup/", {"email": "OWNER@example.com",
                                        "password": "a-long-unusual-pass-42"})
    assert b"already exists" in response.content


def test_log_in_and_out(client, personas):
    response = client.post("/login/", {"username": "owner@example.com",
                                       "password": "correct horse battery staple"})
    assert response.status_code == 302
    assert client.get("/workspaces/").status_code == 200
    client.post("/logout/")
    assert client.get("/workspaces/").status_code == 302


def test_brute_force_lockout(client, personas):
    for _ in range(5):
        client.post("/login/", {"username": "owner@example.com", "password": "wrong"})
    response = client.post("/login/", {"username": "owner@example.com",
                                       "password": "correct horse battery staple"})
    assert response.status_code == 429
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in client.session


def test_password_reset_by_email(client, personas, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/password-reset/", {"email": "owner@example.com"})
    assert len(mail.outbox) == 1
    assert EmailMessage.objects.get().sent_at is not None
    link = re.search(r"http://testserver(/reset/\S+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    response = client.post(form_page.redirect_chain[-1][0],
                           {"new_password1": "brand-new-pass-9876", "new_password2":
                            "brand-new-pass-9876"})
    assert response.status_code == 302
    assert User.objects.get(email="owner@example.com").check_password("brand-new-pass-9876")


def test_unknown_email_reset_sends_nothing(client, db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/password-reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []


def test_email_task_is_safe_to_run_twice(personas):
    from workspaces import services
    from workspaces.tasks import send_email

    msg = services.queue_email_text("x@example.com", "Hi", "Body")
    assert send_email.run(msg.pk) is True
    assert send_email.run(msg.pk) is False
    assert len(mail.outbox) == 1


def test_a_crash_during_sign_up_keeps_the_password_out_of_error_reports(db, rf, monkeypatch):
    """Django's error reports (DEBUG page, mail to admins) list POST data and every frame's
    locals; the password typed at sign-up is in neither."""
    import uuid

    from django.contrib.sessions.backends.db import SessionStore

    from tests.canary import error_report
    from workspaces import views

    password = f"CANARY-{uuid.uuid4().hex}"  # made at run time: not in any source line shown

    def explode(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database went away")

    monkeypatch.setattr("workspaces.services.create_workspace", explode)
    request = rf.post("/signup/", {"name": "Ada", "email": "ada@example.com",
                                   "password": password})
    request.user = AnonymousUser()
    request.session = SessionStore()
    report = error_report(request, lambda: views.signup(request))
    assert "workspaces/services.py" in report and "database went away" in report
    assert password not in report
    assert not User.objects.filter(email="ada@example.com").exists()
