from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed


def _keys_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "FIELD_ENCRYPTION_KEY":
        from . import crypto

        crypto.reset_caches()


class SecretsVaultConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "secrets_vault"
    verbose_name = "Secrets vault"

    def ready(self) -> None:
        setting_changed.connect(_keys_changed, dispatch_uid="secrets_vault.keys_changed")
