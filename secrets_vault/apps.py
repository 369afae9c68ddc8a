from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed


def _keys_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "FIELD_ENCRYPTION_KEY":
        from . import crypto

        crypto.reset_caches()


def _app_saved(*, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    """A new app created by an admin or owner receives the workspace's secrets (a recorded,
    audited grant). A signal because the vault sits above workspaces, which creates apps."""
    if created and not raw:
        from . import services

        services.grant_if_created_by_admin(instance)


class SecretsVaultConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "secrets_vault"
    verbose_name = "Secrets vault"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        setting_changed.connect(_keys_changed, dispatch_uid="secrets_vault.keys_changed")
        post_save.connect(_app_saved, sender="workspaces.App",
                          dispatch_uid="secrets_vault.app_workspace_access")
        from workspaces import panels

        from .templatetags.vault_tags import app_secret_access

        panels.register_nav("Custom APIs", "custom-apis", 40)
        panels.register_nav("Secrets", "secrets", 50)

        # The app page (workspaces) shows whether the app receives workspace secrets.
        panels.register("secrets_vault.app_secret_access",
                        "secrets_vault/_app_secret_access.html", app_secret_access, order=10,
                        slot="cards")
