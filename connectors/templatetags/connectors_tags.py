"""``{% load connectors_tags %}{% connector_notices app %}``: the "needs reconnecting" notice of
an app's shared connections, for pages other than the app's Connectors page (e.g. the app's
overview), linking to where the owner reconnects."""

from __future__ import annotations

from typing import Any

from django import template

from ..models import Connection

register = template.Library()


@register.inclusion_tag("connectors/_notices.html")
def connector_notices(app: Any) -> dict[str, Any]:
    broken = list(Connection.objects.filter(app=app, status=Connection.Status.NEEDS_RECONNECT)
                  .exclude(kind=Connection.Kind.APP_USER).select_related("connector")
                  .order_by("integration_type", "id")) if app is not None else []
    return {"app": app, "broken": broken}
