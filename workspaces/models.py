"""The ground floor: users, workspaces, memberships, apps, tokens and the credit ledger."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


def new_public_id() -> str:
    """24 lowercase hex characters: the shape of id the SDK expects for apps."""
    return secrets.token_hex(12)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.name or self.email


class Plan(models.TextChoices):
    FREE = "free", "Free"
    BUILDER = "builder", "Builder"
    PRO = "pro", "Pro"


class Role(models.TextChoices):
    MEMBER = "member", "Member"
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"


ROLE_RANK = {Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}


class Workspace(models.Model):
    class Kind(models.TextChoices):
        PERSONAL = "personal", "Personal"
        SHARED = "shared", "Shared"

    public_id = models.CharField(max_length=24, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.SHARED)
    plan = models.CharField(max_length=10, choices=Plan.choices, default=Plan.FREE)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership",
                                     related_name="workspaces")

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_shared(self) -> bool:
        return self.kind == self.Kind.SHARED


class Membership(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "user"], name="one_membership_per_user")
        ]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"

    def has_role(self, needed: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(needed)]


class MembershipEvent(models.Model):
    """Membership history: one row each time someone stops being a member (left or removed).

    Membership rows are deleted when a member goes (every "is a member" check stays a plain
    existence query); this table remembers the past, e.g. for the catalog rule that a reviewer
    who belonged to a workspace recently can't review its submissions."""

    class Kind(models.TextChoices):
        LEFT = "left", "Left"
        REMOVED = "removed", "Removed"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE,
                                  related_name="membership_events")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="membership_events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    role = models.CharField(max_length=10, choices=Role.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                              blank=True, related_name="+")
    member_since = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["workspace", "user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.user} {self.kind} {self.workspace}"


class Invitation(models.Model):
    """A pending invitation is opened at /invite/<public_id>/ with its secret token, which the
    e-mail link carries in the URL fragment (never sent to the server in a URL)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invitations")
    public_id = models.CharField(max_length=24, unique=True, default=new_public_id, editable=False)
    email = models.EmailField()
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                    null=True, blank=True, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One pending invitation per address and workspace: a new one revokes the old
            # (services.invite), and this index keeps it so under concurrent requests.
            models.UniqueConstraint(fields=["workspace", "email"],
                                    condition=models.Q(accepted_at=None, revoked_at=None),
                                    name="one_pending_invitation_per_email"),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.workspace}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None


class App(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="apps")
    public_id = models.CharField(max_length=24, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=100)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    allow_anonymous_integration_calls = models.BooleanField(
        default=False,
        help_text="Let callers without any token call this workspace's integrations from this app.",
    )
    # Per-app salt for the app-user JWT key; replacing it revokes every app-user token at once.
    jwt_salt = models.CharField(max_length=64, default=secrets.token_hex, editable=False)
    monthly_credit_cap = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Most credits this app's calls may spend in a calendar month (UTC); empty = "
                  "no cap beyond the workspace's balance.")
    sandbox_mode = models.BooleanField(
        default=False,
        help_text="Answer this app's integration calls from the spec (examples or generated "
                  "values) instead of the upstream: free, nothing sent.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AppCreditUsage(models.Model):
    """Credits an app's calls spent in one calendar month (UTC), kept in step with the ledger
    (the charge and this row change in one statement), for the app's monthly cap."""

    # (app, month) is unique below: that index serves lookups by app too
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="credit_usage",
                            db_index=False)
    month = models.DateField(help_text="The first day of the month.")
    used = models.PositiveIntegerField(default=0)
    notified_80_at = models.DateTimeField(null=True, blank=True)
    notified_100_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "month"], name="one_credit_usage_per_app_month"),
        ]

    def __str__(self) -> str:
        return f"{self.app_id} {self.month:%Y-%m}: {self.used}"


class AppUser(models.Model):
    """An end user of one app, identified by the app's own id for them."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="app_users")
    external_id = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "external_id"], name="one_app_user_per_id")
        ]

    def __str__(self) -> str:
        return f"{self.external_id}@{self.app.public_id}"


class RevokedAppUserToken(models.Model):
    jti = models.CharField(max_length=64, unique=True)
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.jti


class TokenBase(models.Model):
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.masked})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def masked(self) -> str:
        return f"{self.TOKEN_TYPE}_{self.prefix}_…"


class PersonalAccessToken(TokenBase):
    TOKEN_TYPE = "sbp"
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="access_tokens")


class AppServiceToken(TokenBase):
    TOKEN_TYPE = "sbs"
    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="service_tokens")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, related_name="+")


class CreditAccount(models.Model):
    """The balance row; every change goes through workspaces.credits with a row lock."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="credits")
    balance = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.workspace}: {self.balance}"


class CreditEntry(models.Model):
    class Kind(models.TextChoices):
        GRANT = "grant", "Grant"
        AWARD = "award", "Award"
        USAGE = "usage", "Usage"
        REFUND = "refund", "Refund"
        ADJUSTMENT = "adjustment", "Adjustment"

    # Written by every proxied call: no index the (workspace, created_at) one already covers,
    # and the key unique through a constraint (no extra LIKE-pattern index). The ledger keeps
    # its database foreign key to the workspace.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE,
                                  related_name="credit_entries", db_index=False)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    amount = models.BigIntegerField(help_text="Positive adds credits, negative spends them.")
    balance_after = models.BigIntegerField()
    reason = models.CharField(max_length=200)
    reference_type = models.CharField(max_length=50, blank=True)
    reference_id = models.CharField(max_length=100, blank=True)
    reference_url = models.CharField(max_length=300, blank=True)
    idempotency_key = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL,
                                   null=True, blank=True, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"])]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"],
                                    name="one_credit_entry_per_idempotency_key"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d} ({self.reason})"


class EmailMessage(models.Model):
    """Outbox row: the Celery task sends it once and marks it sent (safe to run twice).

    A message carrying a secret link (invitation, password reset) has an empty `body` and a
    `link_kind` plus non-secret `link_context` (ids, the site's address): the link and the
    text are made when it is sent (services.deliver_email), so no token is ever stored."""

    to = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    link_kind = models.CharField(max_length=30, blank=True)
    link_context = models.JSONField(default=dict, blank=True)
    html_body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.subject} -> {self.to}"


class AuditEntry(models.Model):
    """Who changed what, when (workspaces.audit.record writes these). `changes` is a field-level
    diff {field: {"from": before, "to": after}}; a secret-bearing field is only "changed" (or
    "set"/"removed"), never a value."""

    class ActorKind(models.TextChoices):
        USER = "user", "Dashboard user"
        PERSONAL_TOKEN = "personal_token", "Personal access token"
        SERVICE_TOKEN = "service_token", "Service token"
        APP_USER = "app_user", "App user"
        STAFF_REVIEWER = "staff_reviewer", "Staff reviewer"
        SYSTEM = "system", "System"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audit")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True,
                              blank=True, related_name="+")
    actor_kind = models.CharField(max_length=20, choices=ActorKind.choices,
                                  default=ActorKind.SYSTEM)
    actor_label = models.CharField(max_length=200, blank=True,
                                   help_text="Who, as shown: an e-mail, \"alice@example.com "
                                             "via token 'ci'\", \"service token 'deploy'\", "
                                             "\"system\" (kept when the user is deleted).")
    action = models.CharField(max_length=60)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=64, blank=True,
                                 help_text="Public id (or primary key) of the target, for links.")
    target_name = models.CharField(max_length=200)
    scope = models.CharField(max_length=100, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"]),
                   models.Index(fields=["workspace", "action", "-created_at"],
                                name="audit_ws_action_created")]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type} {self.target_name}"
