from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from .models import Membership

# (label, url name or None while the section is not built yet)
NAV = [
    ("Apps", "apps"),
    ("Integrations", None),
    ("Custom APIs", None),
    ("Secrets", None),
    ("Catalog", None),
    ("Connectors", None),
    ("Credits", "credits"),
    ("Members", "members"),
    ("Settings", "workspace-settings"),
]


def workspace_nav(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    memberships = list(Membership.objects.filter(user=user).select_related("workspace")
                       .order_by("workspace__kind", "workspace__name"))
    return {"my_memberships": memberships, "nav_sections": NAV}
