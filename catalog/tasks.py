"""Celery tasks: thin, take ids, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(bind=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_notification(self, notification_id: int) -> bool:  # type: ignore[no-untyped-def]
    """E-mail one notification. Sends at most once however often it runs (see
    services.deliver_notification)."""
    return services.deliver_notification(notification_id)


@shared_task
def resend_unsent_notifications() -> int:
    """Periodic (beat): queue again notifications whose e-mail was never sent."""
    return len(services.resend_unsent_notifications())
