"""Fetching a workspace's own integration for a request user (dashboard and API alike)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from workspaces.access import get_workspace_object
from workspaces.models import Membership

from . import services
from .models import CatalogIntegration


def get_own_integration(user: Any, workspace_id: str, integration_id: str, *,
                        edit: bool = False) -> tuple[CatalogIntegration, Membership]:
    """An integration of the workspace: 404 for outsiders and for other workspaces'
    integrations; with `edit`, 403 unless the user is its creator or a workspace admin."""
    integration, m = get_workspace_object(user, workspace_id, CatalogIntegration,
                                          public_id=integration_id)
    if edit and not services.can_edit(m, integration):
        raise PermissionDenied("Only the integration's creator or a workspace admin can change "
                               "it.")
    return integration, m
