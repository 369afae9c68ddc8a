from __future__ import annotations

import time

import pytest
from django.core import mail

from workspaces.models import EmailMessage

pytestmark = [pytest.mark.redis]


def wait_for(predicate, timeout=20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_password_reset_email_is_sent_by_a_real_worker(celery_worker_real, client):
    from workspaces import services

    services.sign_up(email="reset-me@example.com", password="a-long-unusual-pass-42")
    response = client.post("/password-reset/", {"email": "reset-me@example.com"})
    assert response.status_code == 302
    assert wait_for(lambda: EmailMessage.objects.filter(sent_at__isnull=False).exists()), \
        "the worker never sent the queued e-mail"
    assert [m.to for m in mail.outbox] == [["reset-me@example.com"]]
    assert "/reset/" in mail.outbox[0].body


def test_monthly_grant_task_runs_on_worker_and_is_idempotent(celery_worker_real):
    from workspaces import services
    from workspaces.models import CreditEntry
    from workspaces.tasks import grant_monthly_credits

    user = services.sign_up(email="grant@example.com", password="a-long-unusual-pass-42")
    ws = services.personal_workspace(user)
    assert grant_monthly_credits.delay().get(timeout=20) >= 1
    assert grant_monthly_credits.delay().get(timeout=20) >= 1
    assert CreditEntry.objects.filter(workspace=ws, kind="grant").count() == 1
