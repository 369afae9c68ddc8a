"""Configuration of an integration: create from a ready import, edit (on the stored spec,
never refetched), headers, delete, and the apps that called it recently. Each change writes
one audit entry in its transaction."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Count, Max
from django.utils import timezone

from workspaces import audit
from workspaces.models import App, Workspace

from .. import openapi
from ..models import CallLog, IntegrationHeader, SpecImport, WorkspaceIntegration
from .base import CHANGED, IntegrationError, _check_plan, _spec_error, _user, _vault
from .fields import (
    _clean_description,
    _clean_name,
    _clean_slug,
    clean_base_url,
    clean_operation_keys,
)
from .headers import (
    HeaderInput,
    _check_kept_headers_load,
    _check_origin_move,
    _clean_headers,
    _existing_headers,
    _write_headers,
)
from .imports import load_stored_doc, operations_of

RECENT_CALLERS_DAYS = 30


def _spec_for(workspace: Workspace, spec_import: SpecImport) -> SpecImport:
    if spec_import.workspace_id != workspace.pk:
        raise IntegrationError("No such import.", "not_found", "import_id")
    if spec_import.status != SpecImport.Status.READY:
        raise IntegrationError("The spec is not ready yet: wait for the import to finish.",
                               "import_not_ready", "import_id")
    if spec_import.purpose == SpecImport.Purpose.CHECK:
        raise IntegrationError("This import is a periodic check; import the spec instead.",
                               "invalid", "import_id")
    return spec_import


def _extract(spec_import: SpecImport, keys: list[str]) -> dict[str, Any]:
    try:
        return openapi.extract_operations(load_stored_doc(spec_import), keys)
    except openapi.SpecError as exc:
        raise _spec_error(exc, "operations") from None


def _audit(integration: WorkspaceIntegration, *, actor: Any, action: str,
           changes: dict[str, Any] | None = None) -> None:
    audit.record(integration.workspace, actor=actor, action=action, target_type="integration",
                 target_name=integration.slug, target_id=integration.public_id,
                 scope=f"integration:{integration.public_id}", changes=changes)


@transaction.atomic
def create_integration(workspace: Workspace, *, actor: Any, spec_import: SpecImport, slug: str,
                       name: str, operation_keys: Iterable[str], base_url: str = "",
                       description: str = "",
                       headers: Sequence[HeaderInput] = ()) -> WorkspaceIntegration:
    """Create an integration from a ready import; an empty ``base_url`` means the spec's
    server URL."""
    _check_plan(workspace)
    spec_import = _spec_for(workspace, spec_import)
    slug = _clean_slug(workspace, slug)
    name = _clean_name(name)
    description = _clean_description(description)
    base_url = clean_base_url(base_url or spec_import.default_base_url)
    keys = clean_operation_keys(workspace, operation_keys,
                                (op["key"] for op in operations_of(spec_import)))
    plan = _clean_headers(list(headers), {})
    for item in plan:
        if item.value is None:  # nothing exists yet to keep
            raise IntegrationError(f"Enter a value for the header {item.name}.",
                                   "invalid_header", "headers")
    operations_doc = _extract(spec_import, keys)
    try:
        with transaction.atomic():
            integration = WorkspaceIntegration.objects.create(
                workspace=workspace, slug=slug, name=name, description=description,
                base_url=base_url, spec=spec_import, selected_keys=keys,
                operations_doc=operations_doc,
                created_by=_user(actor))
    except IntegrityError:
        raise IntegrationError(f"An integration with the slug “{slug}” already exists in this "
                               "workspace.", "duplicate_slug", "slug")
    header_changes = _write_headers(integration, plan, actor=actor)
    _audit(integration, actor=actor, action="integration.create", changes={
        **audit.diff(None, {"slug": slug, "name": name, "base_url": base_url}),
        "operations": keys,
        "headers": {p.name: ("set" if p.sensitive else "added") for p in plan
                    if p.name in header_changes},
        "spec": spec_import.source_url or "pasted"})
    return integration


_UNSET: Any = object()


@transaction.atomic
def update_integration(integration: WorkspaceIntegration, *, actor: Any, slug: Any = _UNSET,
                       name: Any = _UNSET, description: Any = _UNSET, base_url: Any = _UNSET,
                       operation_keys: Iterable[str] | None = None,
                       headers: Sequence[HeaderInput] | None = None) -> WorkspaceIntegration:
    """Edit on the stored spec (never refetched). Sensitive headers not deleted or replaced
    keep their values; if one of those can't be loaded, nothing is saved."""
    locked = (WorkspaceIntegration.objects.select_for_update().select_related("workspace")
              .get(pk=integration.pk))
    workspace = locked.workspace
    _check_plan(workspace)
    before = audit.snapshot(locked, ("slug", "name", "base_url"))  # description: "changed"
    changes: dict[str, Any] = {}
    fields: list[str] = []
    if slug is not _UNSET and slug != locked.slug:
        locked.slug = _clean_slug(workspace, slug, exclude_pk=locked.pk)
        changes["slug"] = locked.slug
        fields.append("slug")
    if name is not _UNSET:
        clean = _clean_name(name)
        if clean != locked.name:
            locked.name, changes["name"] = clean, clean
            fields.append("name")
    if description is not _UNSET:
        clean = _clean_description(description)
        if clean != locked.description:
            locked.description, changes["description"] = clean, CHANGED
            fields.append("description")
    old_base_url = locked.base_url
    if base_url is not _UNSET:
        clean = clean_base_url(base_url)
        if clean != locked.base_url:
            locked.base_url, changes["base_url"] = clean, clean
            fields.append("base_url")
    if operation_keys is not None:
        spec = SpecImport.objects.defer("raw_text").get(pk=locked.spec_id)
        keys = clean_operation_keys(workspace, operation_keys,
                                    (op["key"] for op in operations_of(spec)))
        if keys != locked.selected_keys:
            changes["operations"] = {
                "added": [k for k in keys if k not in locked.selected_keys],
                "removed": [k for k in locked.selected_keys if k not in keys]}
            locked.selected_keys = keys
            locked.operations_doc = _extract(spec, keys)
            fields += ["selected_keys", "operations_doc"]
    plan = None
    if headers is not None:
        plan = _clean_headers(list(headers), _existing_headers(locked))
    _check_origin_move(locked, old_base_url, plan)
    _check_kept_headers_load(locked, plan)
    if plan is not None:
        header_changes = _write_headers(locked, plan, actor=actor)
        if header_changes:
            changes["headers"] = header_changes
    if changes:
        locked.config_version += 1
        fields += ["config_version", "updated_at"]
        try:
            with transaction.atomic():
                locked.save(update_fields=fields)
        except IntegrityError:
            raise IntegrationError("An integration with this slug already exists in this "
                                   "workspace.", "duplicate_slug", "slug")
        for key in before:  # field-level diff: {"from", "to"}
            if key in changes:
                changes[key] = {"from": before[key], "to": getattr(locked, key)}
        _audit(locked, actor=actor, action="integration.update", changes=changes)
    return locked


def set_headers(integration: WorkspaceIntegration, *, actor: Any,
                headers: Sequence[HeaderInput]) -> WorkspaceIntegration:
    return update_integration(integration, actor=actor, headers=headers)


@transaction.atomic
def delete_integration(integration: WorkspaceIntegration, *, actor: Any) -> None:
    """Delete it, its header secrets and its spec copies (unless another integration uses the
    same stored spec). Call logs stay (their integration becomes empty)."""
    locked = (WorkspaceIntegration.objects.select_for_update().select_related("workspace")
              .filter(pk=integration.pk).first())
    if locked is None:
        return
    vault = _vault()
    callers = [c["app"].name for c in recent_callers(locked)]
    for header in IntegrationHeader.objects.filter(integration=locked).exclude(secret_name=""):
        vault.delete_secret_named(locked.workspace, header.secret_name, actor=actor,
                                  audited=False)
    spec_id = locked.spec_id
    _audit(locked, actor=actor, action="integration.delete",
           changes={**audit.diff({"name": locked.name, "base_url": locked.base_url}, None),
                    "recent_callers": callers})
    SpecImport.objects.filter(pk=spec_id).update(integration=None)
    locked.delete()
    if not WorkspaceIntegration.objects.filter(spec_id=spec_id).exists():
        SpecImport.objects.filter(pk=spec_id).delete()


def recent_callers(integration: WorkspaceIntegration,
                   days: int = RECENT_CALLERS_DAYS) -> list[dict[str, Any]]:
    """Apps that called the integration in the last ``days`` days, most recent first."""
    since = timezone.now() - timedelta(days=days)
    rows = list(CallLog.objects.filter(integration=integration, created_at__gte=since,
                                       app__isnull=False)
                .values("app").annotate(last=Max("created_at"), calls=Count("id"))
                .order_by("-last")[:50])
    apps = App.objects.in_bulk([r["app"] for r in rows])
    return [{"app": apps[r["app"]], "last_call_at": r["last"], "calls": r["calls"]}
            for r in rows if r["app"] in apps]
