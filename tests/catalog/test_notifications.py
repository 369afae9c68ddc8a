"""Notifications: in-app rows plus e-mail, sent after commit by a task that is safe to retry and
never sends the same notification twice (run twice, crash mid-send, worker process killed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection, transaction

from catalog import services, tasks
from catalog.models import Notification
from tests.catalog.conftest import make_integration
from tests.factories import UserFactory
from workspaces.models import EmailMessage


def wait_for(predicate, timeout=20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.django_db
def test_submission_notifies_every_eligible_reviewer(integration, personas, reviewer, reviewer2,
                                                     django_capture_on_commit_callbacks):
    inactive = UserFactory(email="gone@example.com", is_staff=True, is_active=False)
    with django_capture_on_commit_callbacks(execute=True):
        revision = services.submit_for_review(integration, actor=personas.member,
                                              link_base="https://sb.example.com")
    rows = Notification.objects.filter(kind="submitted")
    assert {n.recipient for n in rows} == {reviewer, reviewer2}
    assert inactive not in {n.recipient for n in rows}
    assert sorted(m.to[0] for m in mail.outbox) == ["reviewer2@example.com",
                                                    "reviewer@example.com"]
    body = mail.outbox[0].body
    assert f"https://sb.example.com/catalog/review/{revision.pk}/" in body
    assert "Review needed: OpenAI Text to Image" == mail.outbox[0].subject
    assert all(n.email.sent_at for n in rows)


@pytest.mark.django_db
def test_decision_notifies_the_submitter_with_the_comment(submitted, personas, reviewer,
                                                          django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.request_changes(submitted, actor=reviewer,
                                 comment="Please add rate-limit handling.")
    n = Notification.objects.get(recipient=personas.member)
    assert n.kind == "changes_requested" and n.body == "Please add rate-limit handling."
    assert [m.to for m in mail.outbox] == [["member@example.com"]]
    assert "Please add rate-limit handling." in mail.outbox[0].body
    assert mail.outbox[0].subject == "Changes requested: OpenAI Text to Image"


@pytest.mark.django_db
def test_approval_email_mentions_the_award(submitted, reviewer,
                                           django_capture_on_commit_callbacks):
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.approve_submission(submitted, actor=reviewer, comment="Nice work")
    assert "250 credits were added" in mail.outbox[0].body
    assert "Nice work" in mail.outbox[0].body


@pytest.mark.django_db
def test_nothing_is_sent_when_the_transaction_rolls_back(integration, personas, reviewer,
                                                         django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                services.submit_for_review(integration, actor=personas.member)
                raise RuntimeError("boom")
        except RuntimeError:
            pass
    assert callbacks == [] and mail.outbox == []
    assert not Notification.objects.exists() and not EmailMessage.objects.exists()


@pytest.mark.django_db
def test_the_task_sends_once_however_often_it_runs(submitted, reviewer):
    n = Notification.objects.get(recipient=reviewer)
    mail.outbox.clear()
    EmailMessage.objects.filter(pk=n.email_id).update(sent_at=None)
    assert tasks.send_notification.apply(args=[n.pk]).get() is True
    assert tasks.send_notification.apply(args=[n.pk]).get() is False
    assert tasks.send_notification.apply(args=[n.pk]).get() is False
    assert len(mail.outbox) == 1
    assert tasks.send_notification.apply(args=[999999]).get() is False


@pytest.mark.django_db
def test_a_crash_mid_send_leaves_it_unsent_and_the_retry_sends_once(submitted, reviewer,
                                                                    monkeypatch):
    """The worker dies after claiming the e-mail but before it is marked sent: the claim is
    rolled back with the transaction, so the retry sends it, exactly once."""
    n = Notification.objects.get(recipient=reviewer)
    EmailMessage.objects.filter(pk=n.email_id).update(sent_at=None)
    mail.outbox.clear()
    import django.core.mail as django_mail

    real_send = django_mail.send_mail

    def die(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise SystemExit("worker killed mid-send")

    monkeypatch.setattr(django_mail, "send_mail", die)
    with pytest.raises(SystemExit):
        services.deliver_notification(n.pk)
    email = EmailMessage.objects.get(pk=n.email_id)
    assert email.sent_at is None and email.attempts == 0  # the claim was rolled back
    monkeypatch.setattr(django_mail, "send_mail", real_send)
    assert services.deliver_notification(n.pk) is True
    assert services.deliver_notification(n.pk) is False
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_in_app_list_and_unread_count(client, submitted, reviewer, personas):
    services.reject_submission(submitted, actor=reviewer, comment="Not <b>yet</b>")
    client.force_login(personas.member)
    page = client.get("/notifications/").content.decode()
    assert "Not approved: OpenAI Text to Image" in page
    assert "Not &lt;b&gt;yet&lt;/b&gt;" in page
    assert 'data-testid="unread-count">1<' in page
    n = Notification.objects.get(recipient=personas.member)
    response = client.get(f"/notifications/{n.pk}/")
    assert response.status_code == 302 and response.url == services.integration_url(
        submitted.integration)
    n.refresh_from_db()
    assert n.read_at is not None
    assert 'data-testid="unread-count"' not in client.get("/notifications/").content.decode()


@pytest.mark.django_db
def test_notifications_are_private_to_their_recipient(client, submitted, reviewer, personas):
    n = Notification.objects.get(recipient=reviewer)
    client.force_login(personas.outsider)
    assert client.get(f"/notifications/{n.pk}/").status_code == 404
    assert "Review needed" not in client.get("/notifications/").content.decode()
    client.post("/notifications/")
    n.refresh_from_db()
    assert n.read_at is None


@pytest.mark.redis
def test_a_real_worker_sends_each_notification_once(celery_worker_real, personas, reviewer):
    integration = make_integration(personas.workspace, personas.member)
    services.submit_for_review(integration, actor=personas.member)
    n = Notification.objects.get(recipient=reviewer)
    assert wait_for(lambda: EmailMessage.objects.filter(pk=n.email_id,
                                                        sent_at__isnull=False).exists()), \
        "the worker never sent the notification"
    # The same task delivered again (a broker redelivery, a manual retry) sends nothing more.
    results = [tasks.send_notification.delay(n.pk) for _ in range(3)]
    assert [r.get(timeout=20) for r in results] == [False, False, False]
    assert [m.to for m in mail.outbox] == [["reviewer@example.com"]]


KILLED_WORKER = textwrap.dedent("""
    import os, sys, time, django
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    django.setup()
    import django.core.mail
    from catalog import tasks

    def hang(*args, **kwargs):
        print("sending", flush=True)
        time.sleep(120)

    django.core.mail.send_mail = hang
    tasks.send_notification.run(int(sys.argv[1]))
""")


@pytest.mark.postgres
@pytest.mark.redis
def test_worker_killed_mid_task_then_a_real_worker_sends_once(celery_worker_real, personas,
                                                              reviewer, monkeypatch):
    """A worker process is SIGKILLed while sending (row locked, not yet marked sent); the
    retry on a real worker sends the e-mail exactly once."""
    integration = make_integration(personas.workspace, personas.member)
    with transaction.atomic():
        # keep the automatic after-commit send from racing the scenario
        monkeypatch.setattr(transaction, "on_commit", lambda fn, using=None: None)
        services.submit_for_review(integration, actor=personas.member)
    monkeypatch.undo()
    n = Notification.objects.get(recipient=reviewer)
    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": (
        f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}")}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WORKER, str(n.pk)],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "sending"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert EmailMessage.objects.get(pk=n.email_id).sent_at is None
    assert tasks.send_notification.delay(n.pk).get(timeout=30) is True
    assert tasks.send_notification.delay(n.pk).get(timeout=30) is False
    assert [m.to for m in mail.outbox] == [["reviewer@example.com"]]
    assert EmailMessage.objects.get(pk=n.email_id).attempts == 1
