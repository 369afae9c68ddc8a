"""`{% custom_apis_section %}`: the Custom APIs section of the Integrations page.
`{% app_secret_access %}`: on an app's page, whether the app receives workspace secrets, with
the admins' Grant/Revoke control (reads `app` and `membership` from the page's context).

The Integrations page (integrations app) includes it with `{% load vault_tags %}` and
`{% custom_apis_section %}`; it reads `workspace` and `membership` from the page's context.
Names, variables, auth types, scopes and domains only: credentials are never loaded for display
(they stay sealed and would render as a mask anyway).
"""

from __future__ import annotations

from typing import Any

from django import template

from .. import services

register = template.Library()


@register.inclusion_tag("secrets_vault/_custom_apis_section.html", takes_context=True)
def custom_apis_section(context: Any) -> dict[str, Any]:
    workspace = context.get("workspace")
    membership = context.get("membership")
    if workspace is None or membership is None:
        return {"workspace": None}
    return {
        "workspace": workspace,
        "custom_apis": list(services.list_custom_apis(workspace)),
        "can_manage": membership.has_role("admin"),
    }


@register.inclusion_tag("secrets_vault/_app_secret_access.html", takes_context=True)
def app_secret_access(context: Any) -> dict[str, Any]:
    app, membership = context.get("app"), context.get("membership")
    if app is None or membership is None:
        return {"app": None}
    return {
        "app": app, "workspace": app.workspace, "csrf_token": context.get("csrf_token"),
        "access": services.workspace_access(app),
        "can_grant": membership.has_role("admin"),
    }
