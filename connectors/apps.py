from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def _notices(context: Any) -> dict[str, Any]:
    from .templatetags.connectors_tags import connector_notices

    return connector_notices(context.get("app"))


class ConnectorsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "connectors"

    def ready(self) -> None:
        from workspaces import panels

        panels.register_nav("Connectors", "connectors", 70)

        # The app page (workspaces) links to the app's connectors and shows broken ones.
        panels.register("connectors.link", "connectors/_app_link.html", order=10,
                        slot="links")
        panels.register("connectors.notices", "connectors/_notices.html", _notices, order=10,
                        slot="notices")
