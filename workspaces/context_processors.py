from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from . import panels
from .models import Membership

LAST_WORKSPACE_KEY = "last_workspace"


def workspace_nav(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_workspace": None}
    memberships = list(Membership.objects.filter(user=user).select_related("workspace")
                       .order_by("workspace__kind", "workspace__name"))
    match = getattr(request, "resolver_match", None)
    current = match.kwargs.get("workspace_id") if match else None
    if (current and request.session.get(LAST_WORKSPACE_KEY) != current
            and any(m.workspace.public_id == current for m in memberships)):
        request.session[LAST_WORKSPACE_KEY] = current  # written only when it changes
    # Account-level pages (tokens, notifications, review queue, error pages) keep the sidebar
    # and switcher of the workspace the user was last in (base.html: workspace or this one).
    last = current or request.session.get(LAST_WORKSPACE_KEY)
    nav = next((m.workspace for m in memberships if m.workspace.public_id == last),
               memberships[0].workspace if memberships else None)
    return {"my_memberships": memberships, "nav_sections": panels.nav_sections(),
            "nav_workspace": nav}
