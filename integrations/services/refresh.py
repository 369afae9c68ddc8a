"""Refresh from the spec's URL: start a refresh import, then apply it (selected operations
that are gone are dropped; the old stored copy goes when unused)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from ..models import SpecImport, WorkspaceIntegration
from .base import IntegrationError, _check_plan
from .configuration import _audit, _extract
from .fields import clean_operation_keys
from .headers import _check_kept_headers_load
from .imports import operations_of, start_url_import


def start_refresh(integration: WorkspaceIntegration, *, actor: Any) -> SpecImport:
    spec = SpecImport.objects.defer("raw_text", "operations").get(pk=integration.spec_id)
    if not spec.source_url:
        raise IntegrationError("This integration was made from a pasted spec; there is no URL "
                               "to refresh from.", "no_url")
    return start_url_import(integration.workspace, actor=actor, url=spec.source_url,
                            purpose=SpecImport.Purpose.REFRESH, integration=integration)


@transaction.atomic
def apply_refresh(integration: WorkspaceIntegration, spec_import: SpecImport, *, actor: Any,
                  operation_keys: Iterable[str] | None = None
                  ) -> tuple[WorkspaceIntegration, list[str]]:
    """Switch the integration to a refreshed spec. Selected operations that are gone are
    dropped (returned); pass ``operation_keys`` to choose the selection yourself."""
    locked = (WorkspaceIntegration.objects.select_for_update().select_related("workspace")
              .get(pk=integration.pk))
    _check_plan(locked.workspace)
    if (spec_import.integration_id != locked.pk
            or spec_import.purpose != SpecImport.Purpose.REFRESH):
        raise IntegrationError("This import is not a refresh of this integration.", "invalid")
    if spec_import.status != SpecImport.Status.READY:
        raise IntegrationError("The refreshed spec is not ready.", "import_not_ready")
    base = SpecImport.objects.defer("raw_text", "operations").get(pk=locked.spec_id)
    if spec_import.diff.get("base_spec") != base.public_id:
        raise IntegrationError("The integration changed since this refresh was fetched; "
                               "refresh again.", "stale")
    available = [op["key"] for op in operations_of(spec_import)]
    available_set = set(available)
    dropped = [k for k in locked.selected_keys if k not in available_set]
    if operation_keys is None:
        wanted = [k for k in locked.selected_keys if k in available_set]
        if not wanted:
            raise IntegrationError("None of the selected operations is in the new spec; "
                                   "choose the operations to keep.", "no_operations",
                                   "operations")
    else:
        wanted = list(operation_keys)
    keys = clean_operation_keys(locked.workspace, wanted, available)
    _check_kept_headers_load(locked, None)
    locked.operations_doc = _extract(spec_import, keys)
    locked.selected_keys = keys
    locked.spec = spec_import
    locked.notice = ""
    locked.config_version += 1
    locked.save(update_fields=["operations_doc", "selected_keys", "spec", "notice",
                               "config_version", "updated_at"])
    _audit(locked, actor=actor, action="integration.refresh", changes={
        "spec": spec_import.source_url, "operations_removed": dropped,
        "operations_changed": [k for k in spec_import.diff.get("changed", []) if k in keys]})
    # The old copy is unused now (unless another integration was created from it).
    if not WorkspaceIntegration.objects.filter(spec_id=base.pk).exists():
        SpecImport.objects.filter(pk=base.pk).delete()
    return locked, dropped
