"""Links from audit entries to their targets (settings.AUDIT_TARGET_LINKS).

``workspaces`` keeps the audit trail but names no app above it; ``config`` wires everything,
so it knows each target type's model and page. A target that no longer exists gets no link.
One query per target type present on the page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from django.urls import reverse

from catalog.models import CatalogIntegration
from connectors.models import WorkspaceConnector
from integrations.models import WorkspaceIntegration
from secrets_vault.models import CustomApi, Secret
from workspaces.models import App, AuditEntry, Invitation, Membership, Workspace

Resolver = Callable[[Workspace, set[str]], dict[str, str]]


def _by_public_id(model: Any, url_name: str, kwarg: str) -> Resolver:
    def resolve(ws: Workspace, ids: set[str]) -> dict[str, str]:
        found = model.objects.filter(workspace=ws, public_id__in=ids).values_list(
            "public_id", flat=True)
        return {pid: reverse(url_name, kwargs={"workspace_id": ws.public_id, kwarg: pid})
                for pid in found}
    return resolve


def _apps(url_name: str) -> Resolver:
    return _by_public_id(App, url_name, "app_id")


def _workspace(ws: Workspace, ids: set[str]) -> dict[str, str]:
    url = reverse("workspace-settings", kwargs={"workspace_id": ws.public_id})
    return {ws.public_id: url} if ws.public_id in ids else {}


def _members(ws: Workspace, ids: set[str]) -> dict[str, str]:
    numeric = [int(i) for i in ids if i.isdigit()]
    found = Membership.objects.filter(workspace=ws, user_id__in=numeric).values_list(
        "user_id", flat=True)
    url = reverse("members", kwargs={"workspace_id": ws.public_id})
    return {str(pk): url for pk in found}


def _invitations(ws: Workspace, ids: set[str]) -> dict[str, str]:
    numeric = [int(i) for i in ids if i.isdigit()]
    found = Invitation.objects.filter(workspace=ws, pk__in=numeric, accepted_at=None,
                                      revoked_at=None).values_list("pk", flat=True)
    url = reverse("members", kwargs={"workspace_id": ws.public_id})
    return {str(pk): url for pk in found}


def _secrets(ws: Workspace, ids: set[str]) -> dict[str, str]:
    numeric = [int(i) for i in ids if i.isdigit()]
    out = {}
    for pk, name, app_id in (Secret.objects.filter(workspace=ws, pk__in=numeric)
                             .values_list("pk", "name", "app__public_id")):
        kwargs = {"workspace_id": ws.public_id, "name": name}
        out[str(pk)] = (reverse("app-secret-detail", kwargs={**kwargs, "app_id": app_id})
                        if app_id else reverse("secret-detail", kwargs=kwargs))
    return out


def _custom_apis(ws: Workspace, ids: set[str]) -> dict[str, str]:
    return _by_public_id(CustomApi, "custom-api-edit", "custom_api_id")(ws, ids)


RESOLVERS: dict[str, Resolver] = {
    "workspace": _workspace,
    "app": _apps("app-detail"),
    "connection": _apps("app-connectors"),
    "member": _members,
    "invitation": _invitations,
    "secret": _secrets,
    "custom_api": _custom_apis,
    "integration": _by_public_id(WorkspaceIntegration, "integration-detail", "integration_id"),
    "catalog_integration": _by_public_id(CatalogIntegration, "catalog-detail", "integration_id"),
    "workspace_connector": _by_public_id(WorkspaceConnector, "connector-detail", "connector_id"),
}


def target_links(workspace: Workspace, rows: Iterable[AuditEntry]) -> dict[int, str]:
    wanted: dict[str, set[str]] = defaultdict(set)
    rows = list(rows)
    for row in rows:
        if row.target_type in RESOLVERS:
            wanted[row.target_type].add(row.target_id)
    urls = {kind: RESOLVERS[kind](workspace, ids) for kind, ids in wanted.items()}
    return {row.pk: urls[row.target_type][row.target_id] for row in rows
            if row.target_id in urls.get(row.target_type, {})}
