"""The catalog's only door into the secrets vault: which names an app has, storing a value.

Secret values go straight to secrets_vault (encrypted there) and never touch a catalog table.
Nothing here decrypts.
"""

from __future__ import annotations

from typing import Any

from django.urls import NoReverseMatch, reverse

from secrets_vault import services as vault
from workspaces.models import App


def app_secret_names(app: App) -> set[str]:
    """Names the app's backend receives: its own secrets, the workspace's, and Custom API
    variables (an app secret overrides a workspace one). Names only; nothing is decrypted."""
    return set(vault.environment_names(app))


def app_secret_scopes(app: App) -> dict[str, str]:
    """Name -> "app" or "workspace" for the secrets that apply to the app."""
    return {name: ("app" if secret.app_id else "workspace")
            for name, secret in vault.effective_secrets(app.workspace, app).items()}


def store_app_secret(app: App, name: str, value: str, *, actor: Any,
                     description: str = "", audited: bool = True) -> None:
    """Create or replace the app's own secret `name` (the vault versions it; it audits it
    unless the caller's own entry covers it, as an install's does)."""
    exists = vault.get_secret(app.workspace, name, app=app) is not None
    vault.set_secret(app.workspace, name, value, actor=actor, app=app,
                     description=None if exists else description[:300], audited=audited)


def app_secrets_url(app: App) -> str | None:
    """The app's Secrets page in the dashboard, when its URLs are installed."""
    try:
        return reverse("app-secrets", args=[app.workspace.public_id, app.public_id])
    except NoReverseMatch:
        return None
