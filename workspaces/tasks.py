"""Celery tasks: thin, take ids, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import audit, services
from .models import Workspace


@shared_task(bind=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_email(self, message_id: int) -> bool:  # type: ignore[no-untyped-def]
    return services.deliver_email(message_id)


@shared_task
def grant_monthly_credits() -> int:
    count = 0
    for workspace in Workspace.objects.iterator():
        services.grant_monthly_credits(workspace)
        count += 1
    return count


@shared_task
def prune_audit_entries() -> int:
    """Beat (daily): delete audit entries older than AUDIT_RETENTION_DAYS, in batches."""
    from django.conf import settings

    return audit.prune(batch_size=settings.AUDIT_PRUNE_BATCH_SIZE)
