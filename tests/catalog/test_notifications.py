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
from django.utils import timezone

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
    response = client.post(f"/notifications/{n.pk}/")
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
    assert client.post(f"/notifications/{n.pk}/").status_code == 404
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
        monkeypatch.setattr(transaction, "on_commit", lambda fn, using=None, robust=False: None)
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


KILLABLE_CELERY_WORKER = textwrap.dedent("""
    # A real Celery worker (prefork pool, one child) on its own queue. The first time a child
    # sends an e-mail it records its pid and hangs, so the test can SIGKILL it mid-task; later
    # sends go through Django's file-based e-mail backend, which the test counts.
    import os, sys, time, django
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    django.setup()
    from django.conf import settings
    outbox, marker, queue = sys.argv[1:4]
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = outbox
    import django.core.mail
    real_send_mail = django.core.mail.send_mail

    def first_send_hangs(*args, **kwargs):
        if not os.path.exists(marker):
            with open(marker + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.rename(marker + ".tmp", marker)
            time.sleep(300)
        return real_send_mail(*args, **kwargs)

    django.core.mail.send_mail = first_send_hangs
    from config.celery_app import app
    url = os.environ["CELERY_BROKER_URL"]
    app.conf.update(task_always_eager=False, broker_url=url, result_backend=url)
    app.worker_main(["worker", "--pool", "prefork", "--concurrency", "1", "--queues", queue,
                     "--hostname", f"killtest-{os.getpid()}@%h", "--loglevel", "WARNING",
                     "--without-gossip", "--without-mingle", "--without-heartbeat"])
""")


@pytest.mark.postgres
@pytest.mark.redis
def test_real_worker_child_killed_mid_send_requeues_and_sends_once(celery_worker_real, personas,
                                                                    reviewer, monkeypatch,
                                                                    tmp_path):
    """A real `celery worker` process runs the task; its pool process is SIGKILLed while the
    e-mail is being sent (row locked, not marked sent). Celery requeues the task (acks_late +
    reject_on_worker_lost), a fresh pool process runs it again and the e-mail goes out exactly
    once; delivering the task again afterwards sends nothing."""
    integration = make_integration(personas.workspace, personas.member)
    with transaction.atomic():
        monkeypatch.setattr(transaction, "on_commit", lambda fn, using=None, robust=False: None)
        services.submit_for_review(integration, actor=personas.member)
    monkeypatch.undo()
    n = Notification.objects.get(recipient=reviewer)
    outbox, marker = tmp_path / "outbox", tmp_path / "hung-child-pid"
    outbox.mkdir()
    queue = f"catalog-kill-{os.getpid()}"
    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": (
        f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}")}
    worker = subprocess.Popen([sys.executable, "-c", KILLABLE_CELERY_WORKER, str(outbox),
                               str(marker), queue], env=env, start_new_session=True)
    try:
        tasks.send_notification.apply_async(args=[n.pk], queue=queue)
        assert wait_for(lambda: marker.exists(), timeout=60), "the worker never started the task"
        child = int(marker.read_text())
        assert child != worker.pid  # the pool process, not the worker's main process
        assert EmailMessage.objects.get(pk=n.email_id).sent_at is None
        os.kill(child, signal.SIGKILL)
        assert wait_for(lambda: EmailMessage.objects.filter(
            pk=n.email_id, sent_at__isnull=False).exists(), timeout=60), \
            "the requeued task was never run again"
        # Redelivered or retried by hand: nothing more is sent.
        again = [tasks.send_notification.apply_async(args=[n.pk], queue=queue)
                 for _ in range(2)]
        assert [r.get(timeout=30) for r in again] == [False, False]
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=10)
    sent = [p.read_text() for p in outbox.iterdir()]
    assert len(sent) == 1, sent
    assert "To: reviewer@example.com" in sent[0] and "Review needed: OpenAI Text to Image" in \
        sent[0]
    email = EmailMessage.objects.get(pk=n.email_id)
    assert email.attempts == 1  # the killed attempt was rolled back with its transaction
    assert mail.outbox == []  # nothing went through the test process itself


@pytest.mark.django_db
def test_a_broker_outage_keeps_the_decision_and_the_sweeper_sends_it_later(
        client, submitted, reviewer, personas, monkeypatch, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from kombu.exceptions import OperationalError

    def broker_down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("Error 111 connecting to redis. Connection refused.")

    EmailMessage.objects.update(sent_at=timezone.now())  # the reviewers' were sent already
    mail.outbox.clear()
    monkeypatch.setattr(tasks.send_notification, "delay", broker_down)
    client.force_login(reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/catalog/review/{submitted.pk}/",
                               {"decision": "approve", "comment": "Fine"})
    assert response.status_code == 302  # the decision stands, no error page
    submitted.refresh_from_db()
    assert submitted.status == "approved"
    n = Notification.objects.get(recipient=personas.member)
    assert n.email.sent_at is None and mail.outbox == []
    assert services.resend_unsent_notifications() == []  # too recent: the task may still run

    monkeypatch.undo()
    assert services.resend_unsent_notifications(older_than=timedelta(0)) == [n.pk]
    assert [m.to for m in mail.outbox] == [["member@example.com"]]
    assert "Fine" in mail.outbox[0].body
    assert services.resend_unsent_notifications(older_than=timedelta(0)) == []
    assert tasks.resend_unsent_notifications.apply().get() == 0
    assert len(mail.outbox) == 1
    # given up after a week; rows without an e-mail are never picked
    stale = Notification.objects.get(recipient=reviewer)
    EmailMessage.objects.filter(pk=stale.email_id).update(sent_at=None)
    Notification.objects.filter(pk=stale.pk).update(created_at=timezone.now()
                                                    - timedelta(days=8))
    Notification.objects.filter(pk=n.pk).update(email=None)
    assert services.resend_unsent_notifications(older_than=timedelta(0)) == []


@pytest.mark.django_db
def test_links_in_e_mails_use_site_url_when_no_request_gives_one(integration, personas,
                                                                 reviewer, settings):
    settings.SITE_URL = "https://portal.example.com/"
    revision = services.submit_for_review(integration, actor=personas.member)
    email = Notification.objects.get(recipient=reviewer).email
    assert f"https://portal.example.com/catalog/review/{revision.pk}/" in email.body


@pytest.mark.django_db
def test_eligible_reviewers_are_found_in_one_query(integration, personas, reviewer,
                                                   django_assert_num_queries):
    """reviewers_for applies review_refusal's rules in the database: not the submitter, not the
    creator, nobody in the submitting workspace, active staff only."""
    personas.admin.is_staff = True
    personas.admin.save()
    others = [UserFactory(email=f"staff{n}@example.com", is_staff=True) for n in range(4)]
    UserFactory(email="gone@example.com", is_staff=True, is_active=False)
    UserFactory(email="plain@example.com")
    revision = services.submit_for_review(integration, actor=personas.member)
    with django_assert_num_queries(1):
        eligible = services.reviewers_for(revision)
    assert eligible == [reviewer, *others]
    assert all(services.review_refusal(u, revision) is None for u in eligible)
    assert services.review_refusal(personas.admin, revision) is not None
