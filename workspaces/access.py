"""One helper to fetch a workspace-owned object for a user.

Outsiders get 404 (they never learn the object exists); members without the role get 403.
Used by dashboard views and API views alike.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404

from .models import App, Membership, Role
from .plans import ROLE_FOR

M = TypeVar("M", bound=Model)


def membership_for(user: Any, workspace_public_id: str) -> Membership:
    """The user's membership in the workspace, or 404."""
    if not getattr(user, "is_authenticated", False):
        raise Http404("No such workspace.")
    try:
        return Membership.objects.select_related("workspace").get(
            workspace__public_id=workspace_public_id, user=user
        )
    except Membership.DoesNotExist:
        raise Http404("No such workspace.")


def require_role(membership: Membership, action_or_role: str) -> None:
    needed = ROLE_FOR.get(action_or_role, action_or_role)
    if not membership.has_role(Role(needed)):
        raise PermissionDenied(f"This needs the {Role(needed).label.lower()} role or higher.")


def get_workspace_for(user: Any, workspace_public_id: str, action: str = "view") -> Membership:
    membership = membership_for(user, workspace_public_id)
    require_role(membership, action)
    return membership


def get_workspace_object(
    user: Any,
    workspace_public_id: str,
    queryset: QuerySet[M] | type[M],
    action: str = "view",
    *,
    workspace_field: str = "workspace",
    **lookup: Any,
) -> tuple[M, Membership]:
    """Fetch an object of the workspace the user may act on: 404 for outsiders or a missing
    object, 403 for members without the role the action needs."""
    membership = membership_for(user, workspace_public_id)
    qs = queryset if isinstance(queryset, QuerySet) else queryset._default_manager.all()
    try:
        obj = qs.get(**{workspace_field: membership.workspace}, **lookup)
    except qs.model.DoesNotExist:
        raise Http404("Not found.")
    require_role(membership, action)
    return obj, membership


def can_manage_app(membership: Membership, app: App) -> None:
    """Admins manage every app; a member manages the apps they created. 403 otherwise."""
    if app.created_by_id != membership.user_id:
        require_role(membership, "manage_app")


def may_manage_app(membership: Membership, app: App) -> bool:
    """`can_manage_app` as a yes/no, for pages that show or hide the management controls."""
    try:
        can_manage_app(membership, app)
    except PermissionDenied:
        return False
    return True
