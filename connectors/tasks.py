"""Celery tasks: thin, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task
def refresh_expiring_connections() -> int:
    """Beat: refresh tokens ahead of expiry (single-flight with on-access refreshes)."""
    return services.refresh_due_connections()


@shared_task
def purge_expired_oauth_states() -> int:
    return services.purge_expired_states()
