"""Connectors: OAuth connections of apps (platform, workspace-registered, per app user).

Tokens and client secrets are ``VaultField`` columns: they read back as ``Sealed`` values and
only ``services`` reveals them (only access tokens ever leave the server).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q

from secrets_vault.fields import VaultField
from workspaces.models import App, AppUser, Workspace, new_public_id

from . import origins, providers

#: The connector URLs the client secret (token, revocation) or the user (authorize) is sent to.
URL_FIELDS = ("authorize_url", "token_url", "revocation_url")


def endpoint_urls(provider_type: str, **urls: str) -> dict[str, str]:
    """The URLs a connector uses: its own, else those of its provider type (field -> URL)."""
    provider = providers.get(provider_type) if provider_type else None
    return {f: urls.get(f) or (str(getattr(provider, f)) if provider else "")
            for f in URL_FIELDS}


class WorkspaceConnector(models.Model):
    """A workspace's own OAuth app, registered by an admin; addressed by its connector id."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE,
                                  related_name="oauth_connectors")
    public_id = models.CharField(max_length=24, unique=True, default=new_public_id,
                                 editable=False)
    name = models.CharField(max_length=100)
    provider_type = models.CharField(
        max_length=60, blank=True,
        help_text="A platform provider whose endpoints to use, or blank for custom URLs.")
    authorize_url = models.CharField(max_length=500, blank=True)
    token_url = models.CharField(max_length=500, blank=True)
    revocation_url = models.CharField(max_length=500, blank=True)
    client_id = models.CharField(max_length=300)
    client_secret = VaultField(null=True, blank=True)
    scopes = models.CharField(max_length=1000, blank=True, help_text="Space-separated.")
    pkce = models.BooleanField(default=True)
    token_auth = models.CharField(max_length=10, default="post",
                                  choices=[("post", "In the body"), ("basic", "HTTP Basic")])
    secret_rotated_at = models.DateTimeField(null=True, blank=True)
    client_secret_origins = models.JSONField(
        null=True, blank=True, editable=False,
        help_text="Origins (scheme://host:port) of the URLs the client secret was entered for; "
                  "it is never sent anywhere else.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["workspace", "name"],
                                               name="one_connector_name_per_workspace")]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.client_secret is not None and self.client_secret_origins is None:
            self.bind_client_secret()  # created without the service (shell, fixtures)
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "client_secret_origins"}
        super().save(*args, **kwargs)

    def endpoint_urls(self) -> dict[str, str]:
        return endpoint_urls(self.provider_type, **{f: getattr(self, f) for f in URL_FIELDS})

    def bind_client_secret(self) -> None:
        """Bind the client secret to the origins of the current URLs (call when it is set)."""
        self.client_secret_origins = (origins.origins_of(self.endpoint_urls().values())
                                      if self.client_secret is not None else None)

    def unbound_urls(self) -> dict[str, str]:
        """The URLs (field -> origin) the stored client secret was not entered for."""
        if self.client_secret is None:
            return {}
        bound = set(self.client_secret_origins or ())
        return {f: o for f, u in self.endpoint_urls().items()
                if (o := origins.url_origin(u)) and o not in bound}


class Connection(models.Model):
    class Kind(models.TextChoices):
        PLATFORM = "platform", "Platform (shared)"
        WORKSPACE = "workspace", "Workspace connector (shared)"
        APP_USER = "app_user", "App user"

    class Status(models.TextChoices):
        ACTIVE = "active", "Connected"
        NEEDS_RECONNECT = "needs_reconnect", "Needs reconnection"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="connections")
    integration_type = models.CharField(max_length=60, blank=True)
    connector = models.ForeignKey(WorkspaceConnector, on_delete=models.CASCADE, null=True,
                                  blank=True, related_name="connections")
    app_user = models.ForeignKey(AppUser, on_delete=models.CASCADE, null=True, blank=True,
                                 related_name="connections")
    access_token = VaultField()
    refresh_token = VaultField(null=True, blank=True)
    token_type = models.CharField(max_length=30, default="Bearer")
    scopes = models.CharField(max_length=1000, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    connection_config = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    refresh_failures = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    last_refresh_at = models.DateTimeField(null=True, blank=True)
    last_handoff_at = models.DateTimeField(null=True, blank=True)
    connected_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                     null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["app", "integration_type"],
                                    condition=Q(kind="platform"),
                                    name="one_platform_connection_per_app"),
            models.UniqueConstraint(fields=["app", "connector"], condition=Q(kind="workspace"),
                                    name="one_workspace_connection_per_app"),
            models.UniqueConstraint(fields=["app", "connector", "app_user"],
                                    condition=Q(kind="app_user"),
                                    name="one_connection_per_app_user"),
        ]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.label} for {self.app}"

    @property
    def label(self) -> str:
        if self.kind == self.Kind.PLATFORM:
            return self.integration_type
        return f"connector:{self.connector.public_id if self.connector else '?'}"


class OAuthState(models.Model):
    """One authorization attempt. Only the SHA-256 of the state parameter is stored; it is
    single use (``used_at``), short-lived (``expires_at``) and bound to the browser that was
    sent to the provider (``browser_digest``, RFC 6749 §10.12)."""

    digest = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=10, choices=Connection.Kind.choices)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    integration_type = models.CharField(max_length=60, blank=True)
    connector = models.ForeignKey(WorkspaceConnector, on_delete=models.CASCADE, null=True,
                                  blank=True, related_name="+")
    app_user = models.ForeignKey(AppUser, on_delete=models.CASCADE, null=True, blank=True,
                                 related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True,
                             blank=True, related_name="+",
                             help_text="The dashboard user who started it (platform/workspace).")
    code_verifier = VaultField(null=True, blank=True)
    launch_digest = models.CharField(
        max_length=64, blank=True, db_index=True,
        help_text="App-user flows: SHA-256 of the one-time link connectAppUser returned; the "
                  "browser that opens it first gets the state (``launched_at``).")
    browser_digest = models.CharField(
        max_length=64, blank=True,
        help_text="SHA-256 of the nonce set as a cookie in the browser sent to the provider; "
                  "the callback must carry it.")
    launched_at = models.DateTimeField(null=True, blank=True)
    redirect_uri = models.CharField(max_length=500)
    scopes = models.CharField(max_length=1000, blank=True)
    connection_config = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} state for {self.app_id}"


class TokenHandoff(models.Model):
    """Audit of every access token handed to an app (never the token itself)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="token_handoffs")
    connection = models.ForeignKey(Connection, on_delete=models.SET_NULL, null=True,
                                   related_name="handoffs")
    connector_label = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Connection.Kind.choices)
    caller_kind = models.CharField(max_length=20)
    app_user_external_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.connector_label} -> {self.app_id} ({self.caller_kind})"
