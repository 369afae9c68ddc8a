"""Celery tasks of workspace integrations: thin, take ids, safe to run twice.

Spec imports and checks are routed to the ``imports`` queue (``CELERY_TASK_ROUTES``), served
by a worker whose pool child exits after each task (``--max-tasks-per-child 1``, see README,
Deploy), so the memory of a big spec is given back with the child."""

from __future__ import annotations

import gc

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from . import services

# A 13 MB spec validates in about 30 s and a 2,850-file spec bundles in a few seconds locally;
# over the internet fetching many files is what takes time (see INTEGRATIONS_BUNDLE_DEADLINE).
IMPORT_SOFT_TIME_LIMIT = 270
IMPORT_TIME_LIMIT = 300
IMPORTS_QUEUE = "imports"


@shared_task(soft_time_limit=IMPORT_SOFT_TIME_LIMIT, time_limit=IMPORT_TIME_LIMIT,
             acks_late=True, queue=IMPORTS_QUEUE)
def run_spec_import(import_id: int) -> str | None:
    """Read (stored body) or fetch (URL), parse, validate and compare one spec import."""
    try:
        spec_import = services.run_import(import_id)
    except SoftTimeLimitExceeded:
        services.fail_import(import_id, "timeout",
                             "Reading the spec took too long and was stopped. Try a smaller "
                             "spec, or one bundled into a single file.")
        return "failed"
    finally:
        gc.collect()  # a spec's tree has cycles: give its memory back before the next task
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


@shared_task(soft_time_limit=IMPORT_SOFT_TIME_LIMIT, time_limit=IMPORT_TIME_LIMIT,
             queue=IMPORTS_QUEUE)
def check_integration_spec(integration_id: int) -> str | None:
    spec_import = services.start_check(integration_id)
    if spec_import is None:
        return None
    return run_spec_import(spec_import.pk)
