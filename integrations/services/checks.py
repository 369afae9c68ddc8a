"""The periodic spec check (drift): which integrations are checked, the check import of one,
the notice and the admins' e-mail when a selected operation is gone or changed, and the
clean-up of abandoned imports."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from workspaces.models import Membership, Role
from workspaces.services import queue_email_text

from .. import uploads
from ..models import SpecImport, WorkspaceIntegration
from .base import _setting


def integrations_to_check() -> QuerySet[WorkspaceIntegration]:
    """Integrations imported from a URL, for the periodic spec check."""
    return (WorkspaceIntegration.objects.exclude(spec__source_url="")
            .filter(spec__source=SpecImport.Source.URL))


def start_check(integration_id: int) -> SpecImport | None:
    """Create the periodic-check import of one integration (its task does the rest)."""
    integration = (WorkspaceIntegration.objects.select_related("workspace")
                   .filter(pk=integration_id).first())
    if integration is None:
        return None
    url = SpecImport.objects.filter(pk=integration.spec_id).values_list("source_url",
                                                                        flat=True).first()
    if not url:
        return None
    return SpecImport.objects.create(
        workspace=integration.workspace, integration=integration,
        purpose=SpecImport.Purpose.CHECK, source=SpecImport.Source.URL, source_url=url)


def _affected(diff: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The selected operations a check found (removed, changed)."""
    gone = set(diff.get("removed", []))
    affected = diff.get("affected", [])
    return [k for k in affected if k in gone], [k for k in affected if k not in gone]


def _notice_text(diff: dict[str, Any], url: str) -> str:
    removed, changed = _affected(diff)
    parts = []
    if removed:
        parts.append(f"{len(removed)} selected operation(s) no longer exist: "
                     + ", ".join(removed[:10]))
    if changed:
        parts.append(f"{len(changed)} selected operation(s) changed: " + ", ".join(changed[:10]))
    return (f"The spec at {url} changed. " + "; ".join(parts)
            + ". Refresh from the URL to review the change and apply it.")


def _after_check(spec_import: SpecImport) -> None:
    """Set or clear the integration's notice; e-mail admins when it is new."""
    with transaction.atomic():
        integration = (WorkspaceIntegration.objects.select_for_update()
                       .select_related("workspace").filter(pk=spec_import.integration_id)
                       .first())
        if integration is None:
            return
        diff = spec_import.diff or {}
        if diff.get("base_spec") != SpecImport.objects.filter(pk=integration.spec_id).values_list(
                "public_id", flat=True).first():
            return  # the integration changed meanwhile; the next check will tell
        notice = _notice_text(diff, spec_import.source_url) if diff.get("affected") else ""
        if notice != integration.notice:
            integration.notice = notice
            integration.save(update_fields=["notice"])
            if notice:
                _email_admins(integration, diff, spec_import.source_url)
        # Keep only the latest check of each integration.
        (SpecImport.objects.filter(integration=integration, purpose=SpecImport.Purpose.CHECK)
         .exclude(pk=spec_import.pk).exclude(pk=integration.spec_id).delete())


def _email_admins(integration: WorkspaceIntegration, diff: dict[str, Any], url: str) -> None:
    site = _setting("SITE_URL", "").rstrip("/")
    link = site + reverse("integration-detail",
                          args=[integration.workspace.public_id, integration.public_id])
    recipients = (Membership.objects.filter(workspace=integration.workspace,
                                            role__in=[Role.ADMIN, Role.OWNER],
                                            user__is_active=True)
                  .order_by("user__email").values_list("user__email", flat=True))
    removed, changed = _affected(diff)
    body = render_to_string("integrations/email_spec_changed.txt", {
        "integration": integration, "url": url, "link": link, "removed": removed,
        "changed": changed,
    })
    subject = f"Integration “{integration.name}”: its API spec changed"
    for email in recipients:
        queue_email_text(email, subject, body)


def cleanup_abandoned_imports(days: int = 7) -> int:
    """Delete create-imports nobody turned into an integration within ``days`` days, and
    finished refresh imports that were never applied."""
    cutoff = timezone.now() - timedelta(days=days)
    used = WorkspaceIntegration.objects.values("spec_id")
    qs = (SpecImport.objects.filter(created_at__lt=cutoff)
          .exclude(purpose=SpecImport.Purpose.CHECK).exclude(pk__in=used))
    for public_id in qs.filter(source=SpecImport.Source.PASTE).values_list("public_id",
                                                                           flat=True):
        uploads.delete(public_id)  # the body of a refused paste, kept for the editor
    count, _ = qs.delete()
    return count
