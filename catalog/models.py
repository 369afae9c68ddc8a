"""The integration catalog: reusable integrations (a prompt plus declared secrets), their review
history, installations into apps, and in-app notifications.

A `CatalogIntegration` holds the working copy that its workspace edits and uses. Each submission
for the public catalog freezes the working copy into an `IntegrationRevision`; an approved
revision becomes the live one that everyone else sees, and stays live while a later revision is
in review. Every state change is a `ReviewTransition` row (actor, time, comment).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from workspaces.models import App, CreditEntry, EmailMessage, Workspace, new_public_id


class Category(models.TextChoices):
    AI = "ai", "AI & machine learning"
    COMMUNICATION = "communication", "Communication"
    PAYMENTS = "payments", "Payments"
    PRODUCTIVITY = "productivity", "Productivity"
    DATA = "data", "Data & analytics"
    DEVELOPER = "developer", "Developer tools"
    MARKETING = "marketing", "Marketing"
    STORAGE = "storage", "Files & storage"
    OTHER = "other", "Other"


class Visibility(models.TextChoices):
    PRIVATE = "private", "Private"
    PUBLIC = "public", "Public"


class ReviewState(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "In review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"


CONTENT_FIELDS = ["name", "slug", "short_description", "category", "doc_links",
                  "backend_function", "required_secrets", "prompt"]


class IntegrationContent(models.Model):
    """What an integration says: shared by the working copy and the frozen revisions."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60)
    short_description = models.CharField(max_length=200)
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.OTHER)
    doc_links = models.JSONField(default=list, blank=True, help_text="Documentation URLs.")
    backend_function = models.BooleanField(
        default=True, help_text="Calls the API from a backend function, so keys stay server-side.")
    required_secrets = models.JSONField(
        default=list, blank=True,
        help_text='[{"name", "description", "how_to_get"}]: names only, never values.')
    prompt = models.TextField(help_text="The integration prompt (Markdown).")

    class Meta:
        abstract = True

    def content(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in CONTENT_FIELDS}

    @property
    def secret_names(self) -> list[str]:
        return [s.get("name", "") for s in self.required_secrets or []]


class CatalogIntegration(IntegrationContent):
    public_id = models.CharField(max_length=24, unique=True, default=new_public_id,
                                 editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE,
                                  related_name="catalog_integrations",
                                  help_text="The creator's workspace: its private catalog.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    visibility = models.CharField(max_length=10, choices=Visibility.choices,
                                  default=Visibility.PRIVATE)
    state = models.CharField(max_length=20, choices=ReviewState.choices,
                             default=ReviewState.DRAFT,
                             help_text="Review state of the working copy.")
    live_revision = models.ForeignKey("IntegrationRevision", on_delete=models.SET_NULL,
                                      null=True, blank=True, related_name="+",
                                      help_text="The approved revision the public catalog shows.")
    pending_revision = models.ForeignKey("IntegrationRevision", on_delete=models.SET_NULL,
                                         null=True, blank=True, related_name="+",
                                         help_text="The revision waiting for a reviewer.")
    first_approved_at = models.DateTimeField(null=True, blank=True)
    award_entry = models.ForeignKey(CreditEntry, on_delete=models.SET_NULL, null=True,
                                    blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "slug"],
                                    name="catalog_slug_unique_in_workspace"),
        ]
        indexes = [models.Index(fields=["visibility", "live_revision"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"

    @property
    def is_live(self) -> bool:
        return self.visibility == Visibility.PUBLIC and self.live_revision_id is not None

    def content_for(self, workspace: Workspace) -> IntegrationContent:
        """What a workspace uses: its own integrations' working copy, else the live revision."""
        if workspace.pk == self.workspace_id:
            return self
        if self.is_live and self.live_revision is not None:
            return self.live_revision
        raise LookupError("This integration is not available to that workspace.")


class IntegrationRevision(IntegrationContent):
    """A frozen copy of the working copy, as submitted for review. Never edited afterwards."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", "In review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        WITHDRAWN = "withdrawn", "Withdrawn"

    integration = models.ForeignKey(CatalogIntegration, on_delete=models.CASCADE,
                                    related_name="revisions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUBMITTED)
    based_on = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="+",
                                 help_text="The live revision when this one was submitted.")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                     null=True, related_name="+")
    submitted_at = models.DateTimeField(auto_now_add=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)

    class Meta:
        ordering = ["integration", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["integration", "number"],
                                    name="one_revision_number_per_integration"),
        ]
        indexes = [models.Index(fields=["status", "submitted_at"])]

    def __str__(self) -> str:
        return f"{self.name} r{self.number} ({self.status})"

    @property
    def is_update(self) -> bool:
        """A revision of an integration that already has a live version."""
        return self.based_on_id is not None


class ReviewTransition(models.Model):
    """One state change: who, when, from what to what, and why."""

    integration = models.ForeignKey(CatalogIntegration, on_delete=models.CASCADE,
                                    related_name="transitions")
    revision = models.ForeignKey(IntegrationRevision, on_delete=models.SET_NULL, null=True,
                                 blank=True, related_name="transitions")
    action = models.CharField(max_length=20)
    from_state = models.CharField(max_length=20, choices=ReviewState.choices)
    to_state = models.CharField(max_length=20, choices=ReviewState.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                              related_name="+")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action}: {self.from_state} -> {self.to_state}"


class Installation(models.Model):
    """A catalog integration used by an app. Secret values live in the app's vault secrets."""

    public_id = models.CharField(max_length=24, unique=True, default=new_public_id,
                                 editable=False)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="catalog_installations")
    integration = models.ForeignKey(CatalogIntegration, on_delete=models.CASCADE,
                                    related_name="installations")
    installed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                     null=True, related_name="+")
    installed_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["installed_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["app", "integration"], name="install_once_per_app"),
        ]

    def __str__(self) -> str:
        return f"{self.integration} in {self.app}"


class Notification(models.Model):
    """An in-app notification; its e-mail is an outbox row created in the same transaction."""

    class Kind(models.TextChoices):
        SUBMITTED = "submitted", "Submitted for review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                  related_name="catalog_notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    integration = models.ForeignKey(CatalogIntegration, on_delete=models.CASCADE,
                                    related_name="notifications")
    revision = models.ForeignKey(IntegrationRevision, on_delete=models.SET_NULL, null=True,
                                 blank=True, related_name="+")
    subject = models.CharField(max_length=200)
    body = models.TextField()
    url = models.CharField(max_length=300, blank=True)
    email = models.OneToOneField(EmailMessage, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="catalog_notification")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["recipient", "read_at"])]

    def __str__(self) -> str:
        return self.subject
