"""Workspace and app secrets, their version history, and Custom APIs.

Values live only in `VaultField` columns (encrypted; read back as `Sealed`, shown as a mask).
Nothing else here, and nothing in the audit log, ever holds a value.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from workspaces.models import App, Workspace, new_public_id

from .fields import VaultField


class Secret(models.Model):
    """A named value in one scope: the workspace (app is null) or one app of it."""

    class Kind(models.TextChoices):
        USER = "user", "User"
        SYSTEM = "system", "System-managed"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE,
                                  related_name="vault_secrets")
    app = models.ForeignKey(App, on_delete=models.CASCADE, null=True, blank=True,
                            related_name="vault_secrets",
                            help_text="Empty for a workspace secret.")
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.USER,
                            help_text="System secrets belong to a feature (integration headers, "
                                      "connector tokens); they are not on the Secrets page.")
    description = models.CharField(max_length=300, blank=True)
    value = VaultField()
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    updated_by_label = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"],
                                    condition=models.Q(app__isnull=True),
                                    name="secret_name_unique_in_workspace"),
            models.UniqueConstraint(fields=["app", "name"],
                                    condition=models.Q(app__isnull=False),
                                    name="secret_name_unique_in_app"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.scope_label})"

    @property
    def scope_label(self) -> str:
        return f"app:{self.app.public_id}" if self.app_id else "workspace"

    @property
    def described_as(self) -> str:
        """How errors name it: 'workspace secret X' / 'app secret X (app <id>)'."""
        if self.app_id:
            return f"App secret {self.name} (app {self.app.public_id})"
        return f"Workspace secret {self.name}"

    @property
    def set_by(self) -> str:
        return self.updated_by_label or (self.updated_by.email if self.updated_by else "system")


class SecretVersion(models.Model):
    """Metadata of every value a secret has had (never the value itself)."""

    class Action(models.TextChoices):
        CREATED = "created", "Created"
        REPLACED = "replaced", "Replaced"

    secret = models.ForeignKey(Secret, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    action = models.CharField(max_length=10, choices=Action.choices)
    description = models.CharField(max_length=300, blank=True)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                               blank=True, related_name="+")
    set_by_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["secret", "version"], name="secret_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.secret.name} v{self.version}"


class CustomApi(models.Model):
    """A named credential for an API outside the catalog, given to backends as
    CUSTOM_API_<NAME> and CUSTOM_API_<NAME>_AUTH_HEADER."""

    class AuthType(models.TextChoices):
        API_KEY = "api_key", "API key"
        BEARER = "bearer", "Bearer token"
        BASIC = "basic", "Basic auth"

    public_id = models.CharField(max_length=24, unique=True, default=new_public_id,
                                 editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE,
                                  related_name="custom_apis")
    app = models.ForeignKey(App, on_delete=models.CASCADE, null=True, blank=True,
                            related_name="custom_apis",
                            help_text="Empty: organization scope (every app of the workspace).")
    name = models.CharField(max_length=100)
    env_var = models.CharField(max_length=150, help_text="Derived from the name.")
    auth_type = models.CharField(max_length=10, choices=AuthType.choices)
    credential = VaultField(help_text="Key, token, or user:password for basic auth.")
    domain = models.CharField(max_length=253, blank=True)
    docs_url = models.URLField(max_length=2000, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "Custom API"
        constraints = [
            models.UniqueConstraint(fields=["workspace", "env_var"],
                                    condition=models.Q(app__isnull=True),
                                    name="custom_api_var_unique_in_workspace"),
            models.UniqueConstraint(fields=["app", "env_var"],
                                    condition=models.Q(app__isnull=False),
                                    name="custom_api_var_unique_in_app"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.env_var})"

    @property
    def scope(self) -> str:
        return "app" if self.app_id else "organization"

    @property
    def scope_label(self) -> str:
        return f"app:{self.app.public_id}" if self.app_id else "workspace"

    @property
    def auth_header_var(self) -> str:
        from .naming import AUTH_HEADER_SUFFIX

        return self.env_var + AUTH_HEADER_SUFFIX

    @property
    def described_as(self) -> str:
        return f"Custom API “{self.name}” ({self.env_var})"


class AppSecretAccess(models.Model):
    """An app whose backend receives the workspace's secrets and organization Custom APIs
    (functions/env). Without a row an app gets only its own app secrets and app-scope Custom
    APIs. Recorded when an admin or owner creates the app, or when an admin grants it; revoking
    deletes the row. Every grant and revoke is audited."""

    class Reason(models.TextChoices):
        CREATED_BY_ADMIN = "created_by_admin", "App created by an admin or owner"
        GRANTED = "granted", "Granted by an admin"
        MIGRATION = "migration", "Existing app created by a current admin or owner"

    app = models.OneToOneField(App, on_delete=models.CASCADE, primary_key=True,
                               related_name="workspace_secret_access")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    granted_by_label = models.CharField(max_length=200, blank=True)
    granted_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=20, choices=Reason.choices, default=Reason.GRANTED)

    class Meta:
        verbose_name = "app access to workspace secrets"
        verbose_name_plural = "app access to workspace secrets"

    def __str__(self) -> str:
        return f"{self.app} may read workspace secrets"

    @property
    def granted_by_name(self) -> str:
        return self.granted_by_label or (self.granted_by.email if self.granted_by else "system")
