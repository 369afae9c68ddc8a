"""Celery tasks of workspace integrations: thin, take ids, safe to run twice."""

from __future__ import annotations

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from . import services

# A 13 MB spec validates in about 30 s and a 2,850-file spec bundles in a few seconds locally;
# over the internet fetching many files is what takes time (see INTEGRATIONS_BUNDLE_DEADLINE).
IMPORT_SOFT_TIME_LIMIT = 270
IMPORT_TIME_LIMIT = 300


@shared_task(soft_time_limit=IMPORT_SOFT_TIME_LIMIT, time_limit=IMPORT_TIME_LIMIT,
             acks_late=True)
def run_spec_import(import_id: int) -> str | None:
    """Fetch (URL imports), read, validate and compare one spec import."""
    try:
        spec_import = services.run_import(import_id)
    except SoftTimeLimitExceeded:
        services.fail_import(import_id, "timeout",
                             "Reading the spec took too long and was stopped. Try a smaller "
                             "spec, or one bundled into a single file.")
        return "failed"
    return spec_import.status if spec_import is not None else None


@shared_task
def check_integration_specs() -> int:
    """Periodic (beat): re-fetch the spec of every integration imported from a URL; admins are
    notified when a selected operation disappeared or changed."""
    count = 0
    for integration_id in services.integrations_to_check().values_list("pk", flat=True):
        check_integration_spec.delay(integration_id)
        count += 1
    services.cleanup_abandoned_imports()
    return count


@shared_task(soft_time_limit=IMPORT_SOFT_TIME_LIMIT, time_limit=IMPORT_TIME_LIMIT)
def check_integration_spec(integration_id: int) -> str | None:
    spec_import = services.start_check(integration_id)
    if spec_import is None:
        return None
    return run_spec_import(spec_import.pk)
