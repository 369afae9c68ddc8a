"""Record configuration changes. Call inside the service's transaction."""

from __future__ import annotations

from typing import Any

from .models import AuditEntry, Workspace


def record(workspace: Workspace, *, actor: Any, action: str, target_type: str, target_name: str,
           scope: str = "", changes: dict[str, Any] | None = None,
           actor_label: str = "") -> AuditEntry:
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        workspace=workspace, actor=user, actor_label=actor_label or (str(actor) if actor else ""),
        action=action, target_type=target_type, target_name=target_name[:200], scope=scope,
        changes=changes or {},
    )
