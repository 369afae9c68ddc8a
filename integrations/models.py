"""Workspace integrations: a stored OpenAPI spec, the selected operations, headers, call log."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from workspaces.models import App, Workspace, new_public_id


class SpecImport(models.Model):
    """One import of a spec (from a URL or pasted): the stored copy every later step uses.

    The raw text is kept; the operation list and validator findings are computed once by the
    import task. A failed import leaves any existing integration untouched.
    """

    class Source(models.TextChoices):
        URL = "url", "URL"
        PASTE = "paste", "Pasted"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for a worker"
        RUNNING = "running", "Reading the spec"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class Purpose(models.TextChoices):
        CREATE = "create", "New integration"
        REFRESH = "refresh", "Refresh of an integration"
        CHECK = "check", "Periodic check"

    public_id = models.CharField(max_length=24, unique=True, default=new_public_id,
                                 editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE,
                                  related_name="spec_imports")
    integration = models.ForeignKey("WorkspaceIntegration", on_delete=models.CASCADE, null=True,
                                    blank=True, related_name="refresh_imports",
                                    help_text="Set for a refresh or check of an integration.")
    purpose = models.CharField(max_length=10, choices=Purpose.choices, default=Purpose.CREATE)
    source = models.CharField(max_length=10, choices=Source.choices)
    source_url = models.URLField(max_length=2000, blank=True)
    raw_text = models.TextField(blank=True, help_text="The stored copy of the spec.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    error_code = models.CharField(max_length=50, blank=True)
    error_message = models.TextField(blank=True)
    title = models.CharField(max_length=300, blank=True)
    api_version = models.CharField(max_length=100, blank=True)
    spec_version = models.CharField(max_length=20, blank=True)  # "2.0", "3.0.3", "3.1.0"
    operations = models.JSONField(default=list, blank=True,
                                  help_text="[{key, method, path, operation_id, summary, tags}]")
    warnings = models.JSONField(default=list, blank=True,
                                help_text="Validator findings: [{message, location}]")
    default_base_url = models.CharField(max_length=2000, blank=True)
    stage = models.CharField(max_length=20, blank=True,
                             help_text="What the worker is doing now (fetching, reading, ...).")
    size_bytes = models.PositiveIntegerField(default=0, help_text="Size of the stored copy.")
    diff = models.JSONField(default=dict, blank=True,
                            help_text="Refresh/check: operations added, removed, changed and "
                                      "the selected ones affected, against `diff.base_spec`.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.title or self.source_url or 'pasted spec'} ({self.status})"


class WorkspaceIntegration(models.Model):
    public_id = models.CharField(max_length=24, unique=True, default=new_public_id,
                                 editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE,
                                  related_name="integrations")
    slug = models.SlugField(max_length=60)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    base_url = models.CharField(max_length=2000)
    spec = models.ForeignKey(SpecImport, on_delete=models.PROTECT, related_name="+",
                             help_text="The stored spec this integration was built from.")
    selected_keys = models.JSONField(default=list, help_text='["get:/contacts", ...], max 30')
    operations_doc = models.JSONField(
        default=dict, help_text="The selected operations with the definitions they reference.")
    notice = models.TextField(blank=True, help_text="Set by the periodic spec check.")
    config_version = models.PositiveIntegerField(default=1,
                                                 help_text="Bumped on every edit (cache key).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"], name="integration_slug_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


class IntegrationHeader(models.Model):
    """A header sent with every call. Sensitive values live in the secrets vault as a
    workspace secret named `secret_name`, bound to `origin`; `value` is used only for
    non-sensitive headers."""

    integration = models.ForeignKey(WorkspaceIntegration, on_delete=models.CASCADE,
                                    related_name="headers")
    name = models.CharField(max_length=200)
    sensitive = models.BooleanField(default=False)
    value = models.TextField(blank=True)
    secret_name = models.CharField(max_length=200, blank=True)
    origin = models.CharField(
        max_length=300, blank=True,
        help_text="Sensitive headers: the origin (scheme://host:port) of the base URL the value "
                  "was entered for; the value is never sent anywhere else.")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "name"], name="header_name_unique")
        ]

    def __str__(self) -> str:
        return self.name


class CallLog(models.Model):
    """One row per proxied call. Never header values or bodies."""

    class Phase(models.TextChoices):
        NOT_SENT = "not_sent", "Not sent"
        RESPONDED = "responded", "Responded"
        TIMED_OUT = "timed_out", "Timed out"
        SENT_UNCONFIRMED = "sent_unconfirmed", "Sent, unconfirmed"

    # One row is written per proxied call, so each index and constraint here is paid on every
    # call (bench/proxy.py). The references are kept by Django (on_delete), not by database
    # foreign keys: a key check locks the workspace, app and integration rows of every call
    # for the transaction. The single-column indexes the composite ones below already start
    # with are left out, and request_id is unique through a constraint, which (unlike
    # unique=True) adds no second, LIKE-pattern index. The ledger (workspaces.models) drops the
    # same kind of indexes but keeps its foreign key.
    request_id = models.CharField(max_length=40)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="calls",
                                  db_index=False, db_constraint=False)
    app = models.ForeignKey(App, on_delete=models.SET_NULL, null=True, related_name="calls",
                            db_constraint=False)
    integration = models.ForeignKey(WorkspaceIntegration, on_delete=models.SET_NULL, null=True,
                                    related_name="calls", db_index=False, db_constraint=False)
    integration_slug = models.CharField(max_length=60)
    operation = models.CharField(max_length=600)
    caller_kind = models.CharField(max_length=20)
    phase = models.CharField(max_length=20, choices=Phase.choices)
    status_code = models.PositiveIntegerField(null=True, blank=True,
                                              help_text="Upstream status, when it answered.")
    response_status = models.PositiveIntegerField(help_text="What we answered the app.")
    error_code = models.CharField(max_length=50, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    request_bytes = models.PositiveIntegerField(default=0)
    response_bytes = models.PositiveIntegerField(default=0)
    credits = models.PositiveIntegerField(default=0)
    sandbox = models.BooleanField(default=False,
                                  help_text="Answered from the spec (the app's sandbox mode).")
    caller_name = models.CharField(max_length=150, blank=True,
                                   help_text="Who called, for dashboard callers (Try it).")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["workspace", "-created_at"]),
            models.Index(fields=["integration", "-created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(fields=["request_id"], name="one_call_log_per_request_id"),
        ]

    def __str__(self) -> str:
        return f"{self.integration_slug} {self.operation} -> {self.response_status}"
