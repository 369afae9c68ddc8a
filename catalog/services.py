"""Business rules of the catalog. Views, API views, admin and tasks call these.

Each action runs in a transaction, takes `actor=`, records its transition / audit rows in the
same transaction and schedules e-mail with on_commit.

State machine of an integration's working copy (`CatalogIntegration.state`):

    draft --submit--> submitted --approve--> approved
      ^                |  |  '--reject--> rejected
      |   withdraw     |  '--request_changes--> changes_requested
      '----------------'
    approved / rejected / changes_requested --edit--> draft   (public integrations)

Submitting needs visibility "public" and passing prompt checks. While in review the working
copy is locked. An approved integration that is edited keeps its live revision in the public
catalog until a new revision is approved. The first approval of an integration awards credits
to its workspace, exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from workspaces import audit, credits, enqueue
from workspaces.models import App, CreditEntry, EmailMessage, Membership, Role, User, Workspace
from workspaces.plans import PlanRequired, limits
from workspaces.services import (
    ServiceError,
    deliver_email,
    recently_left_user_ids,
    was_member_within,
)
from workspaces.validation import check_name

from . import prompt_checks, vault
from .models import (
    CONTENT_FIELDS,
    CatalogIntegration,
    Installation,
    IntegrationRevision,
    Notification,
    ReviewState,
    ReviewTransition,
    Visibility,
)

S = ReviewState


# --- who may do what ----------------------------------------------------------------------


def require_catalog_plan(workspace: Workspace) -> None:
    """The product: "You must have a Builder Plan to use or create integrations".

    plans.py has no catalog flag of its own; the Builder and Pro plans are the ones whose limits
    include integrations, so that flag stands for "Builder or higher" here (personal workspaces
    included).
    """
    if not limits(workspace).workspace_integrations:
        raise PlanRequired("Creating and using catalog integrations needs the Builder plan or "
                           "higher.")


def can_edit(membership: Membership, integration: CatalogIntegration) -> bool:
    """The creator edits their integration; workspace admins edit all of the workspace's."""
    if membership.workspace_id != integration.workspace_id:
        return False
    return integration.created_by_id == membership.user_id or membership.has_role(Role.ADMIN)


def is_reviewer(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.is_staff)


#: A reviewer who left (or was removed from) the submitting workspace less than this many days
#: ago still counts as one of its members: leaving just before approving doesn't get round
#: the rule that a workspace's members can't approve its submissions (and its credits).
REVIEW_COOLING_OFF_DAYS = 30


def review_refusal(user: Any, revision: IntegrationRevision) -> str | None:
    """Why this user may not decide on this revision (None when they may)."""
    if not is_reviewer(user):
        return "Reviewing catalog submissions needs the reviewer (staff) permission."
    integration = revision.integration
    if user.pk in (revision.submitted_by_id, integration.created_by_id):
        return "You can't review your own submission. Another reviewer has to decide."
    if Membership.objects.filter(workspace_id=integration.workspace_id, user=user).exists():
        return ("You are a member of the workspace that submitted this integration (and would "
                "receive its credits). Another reviewer has to decide.")
    if was_member_within(integration.workspace_id, user, REVIEW_COOLING_OFF_DAYS):
        return (f"You belonged to the workspace that submitted this integration in the last "
                f"{REVIEW_COOLING_OFF_DAYS} days (it would receive the credits). Another "
                "reviewer has to decide.")
    return None


def reviewers_for(revision: IntegrationRevision) -> list[User]:
    """The staff who may decide on this revision (review_refusal's rules, in one query)."""
    integration = revision.integration
    return list(User.objects.filter(is_staff=True, is_active=True)
                .exclude(pk__in=[pk for pk in (revision.submitted_by_id,
                                               integration.created_by_id) if pk])
                .exclude(memberships__workspace_id=integration.workspace_id)
                .exclude(pk__in=recently_left_user_ids(integration.workspace_id,
                                                       REVIEW_COOLING_OFF_DAYS))
                .order_by("pk"))


# --- what a workspace sees ----------------------------------------------------------------


def public_catalog() -> QuerySet[CatalogIntegration]:
    return (CatalogIntegration.objects
            .filter(visibility=Visibility.PUBLIC, live_revision__isnull=False)
            .select_related("live_revision", "workspace"))


def private_catalog(workspace: Workspace) -> QuerySet[CatalogIntegration]:
    return CatalogIntegration.objects.filter(workspace=workspace).select_related("created_by")


def usable_by(workspace: Workspace) -> QuerySet[CatalogIntegration]:
    return CatalogIntegration.objects.filter(
        Q(workspace=workspace) | Q(visibility=Visibility.PUBLIC, live_revision__isnull=False)
    ).select_related("live_revision", "workspace")


def search_catalog(qs: QuerySet[CatalogIntegration], *, q: str = "", category: str = "",
                   prefix: str = "") -> QuerySet[CatalogIntegration]:
    """Integrations whose name, short description or slug contain `q`, in `category`.
    `prefix` names the content searched: "" for the working copy, "live_revision__" for what
    the public catalog shows."""
    q = (q or "").strip()
    if q:
        qs = qs.filter(Q(**{f"{prefix}name__icontains": q})
                       | Q(**{f"{prefix}short_description__icontains": q})
                       | Q(**{f"{prefix}slug__icontains": q}))
    if category:
        qs = qs.filter(**{f"{prefix}category": category})
    return qs


def integration_url(integration: CatalogIntegration) -> str:
    return reverse("catalog-detail", args=[integration.workspace.public_id,
                                           integration.public_id])


# --- content ------------------------------------------------------------------------------


def clean_content(data: dict[str, Any]) -> dict[str, Any]:
    content = {f: data[f] for f in CONTENT_FIELDS if f in data}
    for key in ("name", "slug", "short_description", "prompt"):
        if key in content:
            content[key] = str(content[key]).strip() if key != "prompt" else str(content[key])
    if "required_secrets" in content:
        content["required_secrets"] = [
            {"name": str(s.get("name", "")).strip(),
             "description": str(s.get("description", "")).strip(),
             "how_to_get": str(s.get("how_to_get", "")).strip()}
            for s in content["required_secrets"] if str(s.get("name", "")).strip()
        ]
    if "doc_links" in content:
        content["doc_links"] = [str(u).strip() for u in content["doc_links"] if str(u).strip()]
    return content


def check(integration_or_content: Any) -> prompt_checks.CheckResult:
    get = (integration_or_content.get if isinstance(integration_or_content, dict)
           else lambda k, d=None: getattr(integration_or_content, k, d))
    return prompt_checks.run_checks(
        prompt=get("prompt", "") or "", required_secrets=get("required_secrets", []) or [],
        backend_function=bool(get("backend_function", True)), doc_links=get("doc_links", []) or [])


def _slug_taken_error(slug: str) -> ServiceError:
    return ServiceError(f"This workspace already has an integration with the slug “{slug}”.",
                        "duplicate")


def _slug_taken(workspace: Workspace, slug: str, exclude_pk: int | None = None) -> bool:
    qs = CatalogIntegration.objects.filter(workspace=workspace, slug=slug)
    if exclude_pk:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


def _public_slug_taken(integration: CatalogIntegration) -> bool:
    return public_catalog().filter(slug=integration.slug).exclude(pk=integration.pk).exists()


def _transition(integration: CatalogIntegration, *, actor: Any, action: str, from_state: str,
                to_state: str, revision: IntegrationRevision | None = None,
                comment: str = "") -> ReviewTransition:
    return ReviewTransition.objects.create(
        integration=integration, revision=revision, action=action, from_state=from_state,
        to_state=to_state, actor=actor if getattr(actor, "is_authenticated", False) else None,
        comment=comment)


def _audit(integration: CatalogIntegration, *, actor: Any, action: str,
           changes: dict[str, Any] | None = None, workspace: Workspace | None = None,
           scope: str = "") -> None:
    audit.record(workspace or integration.workspace, actor=actor, action=action,
                 target_type="catalog_integration", target_name=integration.name,
                 target_id=integration.public_id, scope=scope, changes=changes)


@transaction.atomic
def create_integration(workspace: Workspace, *, actor: User,
                       data: dict[str, Any]) -> CatalogIntegration:
    require_catalog_plan(workspace)
    content = clean_content(data)
    visibility = data.get("visibility", Visibility.PRIVATE)
    if visibility not in Visibility.values:
        raise ServiceError("Unknown visibility.")
    if not content.get("name") or not content.get("slug"):
        raise ServiceError("Give the integration a name and a slug.")
    check_name(content["name"], what="An integration name")
    if _slug_taken(workspace, content["slug"]):
        raise _slug_taken_error(content["slug"])
    try:
        # A concurrent create can take the slug after the check: same answer, no 500.
        with transaction.atomic():
            integration = CatalogIntegration.objects.create(
                workspace=workspace, created_by=actor, updated_by=actor, visibility=visibility,
                state=S.DRAFT, **content)
    except IntegrityError:
        raise _slug_taken_error(content["slug"]) from None
    _transition(integration, actor=actor, action="create", from_state=S.DRAFT, to_state=S.DRAFT)
    _audit(integration, actor=actor, action="catalog.create", changes=audit.diff(None, {
        "name": integration.name, "slug": integration.slug, "visibility": visibility}))
    return integration


@transaction.atomic
def update_integration(integration: CatalogIntegration, *, actor: User,
                       data: dict[str, Any]) -> list[str]:
    """Edit the working copy in place; returns the names of the fields that changed.

    Private integrations change at once for the whole workspace. Editing a public one after a
    decision puts it back to draft (its live revision, if any, keeps serving)."""
    locked = CatalogIntegration.objects.select_for_update().get(pk=integration.pk)
    if locked.state == S.SUBMITTED:
        raise ServiceError("This integration is in review and can't be edited now. Withdraw it "
                           "from review first.", "in_review")
    content = clean_content(data)
    visibility = data.get("visibility", locked.visibility)
    if visibility not in Visibility.values:
        raise ServiceError("Unknown visibility.")
    if visibility == Visibility.PRIVATE and locked.live_revision_id is not None:
        raise ServiceError("This integration is in the public catalog; it can't be made private "
                           "again. Ask the platform staff to take it out of the public "
                           "catalog.", "live")
    if "slug" in content and content["slug"] != locked.slug:
        if not content["slug"]:
            raise ServiceError("Give the integration a slug.")
        if _slug_taken(locked.workspace, content["slug"], exclude_pk=locked.pk):
            raise _slug_taken_error(content["slug"])
    if "name" in content:
        check_name(content["name"], what="An integration name")
    changed = [f for f, v in content.items() if getattr(locked, f) != v]
    if visibility != locked.visibility:
        changed.append("visibility")
    if not changed:
        _copy(locked, integration)
        return []
    before = {f: getattr(locked, f) for f in changed}
    for f in changed:
        setattr(locked, f, visibility if f == "visibility" else content[f])
    locked.updated_by = actor
    from_state = locked.state
    if locked.state != S.DRAFT:
        locked.state = S.DRAFT
        _transition(locked, actor=actor, action="edit", from_state=from_state, to_state=S.DRAFT,
                    comment="Edited after the review decision; submit again to update the "
                            "public catalog." if locked.visibility == Visibility.PUBLIC else "")
    try:
        with transaction.atomic():  # a concurrent change can take the slug after the check
            locked.save()
    except IntegrityError:
        raise _slug_taken_error(locked.slug) from None
    _audit(locked, actor=actor, action="catalog.update", changes=audit.diff(
        {**before, "state": from_state}, {**{f: getattr(locked, f) for f in changed},
                                          "state": locked.state}))
    _copy(locked, integration)
    return changed


def _copy(src: CatalogIntegration, dst: CatalogIntegration) -> None:
    """Bring the caller's instance up to date with the locked row we changed."""
    if src is not dst:
        dst.refresh_from_db()


@transaction.atomic
def delete_integration(integration: CatalogIntegration, *, actor: User) -> None:
    locked = CatalogIntegration.objects.select_for_update().get(pk=integration.pk)
    if locked.live_revision_id is not None:
        raise ServiceError("This integration is in the public catalog and other workspaces may "
                           "use it; it can't be deleted.", "live")
    _audit(locked, actor=actor, action="catalog.delete")
    locked.delete()


# --- review workflow ----------------------------------------------------------------------


SUBMIT_REFUSALS = {
    S.SUBMITTED: "This integration is already in review.",
    S.APPROVED: "Nothing changed since the approval. Edit the integration to submit a new "
                "revision.",
    S.REJECTED: "Edit the integration before resubmitting it.",
    S.CHANGES_REQUESTED: "Make the requested changes (edit the integration) before resubmitting "
                         "it.",
}


class ChecksFailed(ServiceError):
    def __init__(self, result: prompt_checks.CheckResult) -> None:
        self.result = result
        super().__init__("Fix these before submitting: "
                         + " ".join(f.message for f in result.errors), "checks_failed")


@transaction.atomic
def submit_for_review(integration: CatalogIntegration, *, actor: User,
                      link_base: str = "") -> IntegrationRevision:
    locked = CatalogIntegration.objects.select_for_update().get(pk=integration.pk)
    if locked.visibility != Visibility.PUBLIC:
        raise ServiceError("Private integrations aren't reviewed. Set the visibility to Public "
                           "to submit it for the public catalog.", "private")
    if locked.state != S.DRAFT:
        raise ServiceError(SUBMIT_REFUSALS[ReviewState(locked.state)], "invalid_state")
    result = check(locked)
    if not result.ok:
        raise ChecksFailed(result)
    if _public_slug_taken(locked):
        raise ServiceError(f"Another public integration already uses the slug “{locked.slug}”. "
                           "Choose another slug.", "duplicate")
    number = (locked.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
    revision = IntegrationRevision.objects.create(
        integration=locked, number=number, based_on=locked.live_revision, submitted_by=actor,
        **locked.content())
    locked.state = S.SUBMITTED
    locked.pending_revision = revision
    locked.save(update_fields=["state", "pending_revision", "updated_at"])
    _transition(locked, actor=actor, action="submit", from_state=S.DRAFT, to_state=S.SUBMITTED,
                revision=revision)
    _audit(locked, actor=actor, action="catalog.submit", changes={"revision": number})
    revision.integration = locked
    for reviewer in reviewers_for(revision):
        _notify(reviewer, Notification.Kind.SUBMITTED, revision, actor=actor, link_base=link_base,
                url=reverse("catalog-review", args=[revision.pk]))
    _copy(locked, integration)
    return revision


@transaction.atomic
def withdraw_submission(integration: CatalogIntegration, *, actor: User) -> None:
    locked = CatalogIntegration.objects.select_for_update().get(pk=integration.pk)
    if locked.state != S.SUBMITTED or locked.pending_revision_id is None:
        raise ServiceError("This integration is not in review.", "invalid_state")
    revision = IntegrationRevision.objects.select_for_update().get(pk=locked.pending_revision_id)
    revision.status = IntegrationRevision.Status.WITHDRAWN
    revision.save(update_fields=["status"])
    locked.state = S.DRAFT
    locked.pending_revision = None
    locked.save(update_fields=["state", "pending_revision", "updated_at"])
    _transition(locked, actor=actor, action="withdraw", from_state=S.SUBMITTED, to_state=S.DRAFT,
                revision=revision)
    _audit(locked, actor=actor, action="catalog.withdraw",
           changes={"revision": revision.number,
                    **audit.diff({"state": S.SUBMITTED}, {"state": S.DRAFT})})
    _copy(locked, integration)


@dataclass
class Decision:
    state: str
    revision_status: str
    kind: str
    needs_comment: bool


DECISIONS = {
    "approve": Decision(S.APPROVED, IntegrationRevision.Status.APPROVED,
                        Notification.Kind.APPROVED, False),
    "reject": Decision(S.REJECTED, IntegrationRevision.Status.REJECTED,
                       Notification.Kind.REJECTED, True),
    "request_changes": Decision(S.CHANGES_REQUESTED, IntegrationRevision.Status.CHANGES_REQUESTED,
                                Notification.Kind.CHANGES_REQUESTED, True),
}


@transaction.atomic
def decide(revision: IntegrationRevision, *, actor: User, decision: str, comment: str = "",
           link_base: str = "") -> IntegrationRevision:
    """Approve, reject or request changes on a submitted revision (reviewers only)."""
    rule = DECISIONS.get(decision)
    if rule is None:
        raise ServiceError("Unknown decision.")
    comment = (comment or "").strip()
    # The integration row lock serialises concurrent decisions on the same integration.
    integration = CatalogIntegration.objects.select_for_update().select_related("workspace").get(
        pk=revision.integration_id)
    revision = IntegrationRevision.objects.select_for_update().get(pk=revision.pk)
    revision.integration = integration
    refusal = review_refusal(actor, revision)
    if refusal:
        raise ServiceError(refusal, "forbidden")
    if revision.status != IntegrationRevision.Status.SUBMITTED or \
            integration.pending_revision_id != revision.pk or integration.state != S.SUBMITTED:
        raise ServiceError(f"This revision is no longer waiting for review (it is "
                           f"{revision.get_status_display().lower()}).", "already_decided")
    if rule.needs_comment and not comment:
        raise ServiceError("Explain the decision in a comment: the submitter needs to know what "
                           "to change.", "comment_required")
    if decision == "approve" and _public_slug_taken(integration):
        raise ServiceError(f"Another public integration already uses the slug "
                           f"“{integration.slug}”. Request changes instead.", "duplicate")
    now = timezone.now()
    revision.status = rule.revision_status
    revision.decided_by = actor
    revision.decided_at = now
    revision.decision_comment = comment
    revision.save(update_fields=["status", "decided_by", "decided_at", "decision_comment"])
    integration.state = rule.state
    integration.pending_revision = None
    if decision == "approve":
        integration.live_revision = revision
    integration.save()
    _transition(integration, actor=actor, action=decision, from_state=S.SUBMITTED,
                to_state=rule.state, revision=revision, comment=comment)
    # a platform reviewer (is_staff), usually not a member of the workspace
    _audit(integration, actor=audit.staff_reviewer(actor), action=f"catalog.{decision}",
           changes={"revision": revision.number,
                    **audit.diff({"state": S.SUBMITTED}, {"state": rule.state})})
    if decision == "approve":
        award_first_approval(integration, actor=actor)
    recipients = {u.pk: u for u in (revision.submitted_by, integration.created_by) if u}
    for user in recipients.values():
        if Membership.objects.filter(workspace=integration.workspace, user=user).exists():
            _notify(user, rule.kind, revision, actor=actor, link_base=link_base,
                    url=integration_url(integration))
    return revision


def diff_base(revision: IntegrationRevision) -> IntegrationRevision | None:
    """What a reviewer compares a revision with: the live revision it would replace; for an
    integration not yet live, the last revision a reviewer sent back (rejected or changes
    requested), so the resubmission shows what changed since."""
    if revision.based_on_id is not None:
        return revision.based_on
    return (IntegrationRevision.objects
            .filter(integration_id=revision.integration_id, number__lt=revision.number,
                    status__in=[IntegrationRevision.Status.REJECTED,
                                IntegrationRevision.Status.CHANGES_REQUESTED])
            .order_by("-number").first())


def approve_submission(revision: IntegrationRevision, *, actor: User, comment: str = "",
                       link_base: str = "") -> IntegrationRevision:
    return decide(revision, actor=actor, decision="approve", comment=comment,
                  link_base=link_base)


def reject_submission(revision: IntegrationRevision, *, actor: User, comment: str,
                      link_base: str = "") -> IntegrationRevision:
    return decide(revision, actor=actor, decision="reject", comment=comment, link_base=link_base)


def request_changes(revision: IntegrationRevision, *, actor: User, comment: str,
                    link_base: str = "") -> IntegrationRevision:
    return decide(revision, actor=actor, decision="request_changes", comment=comment,
                  link_base=link_base)


@transaction.atomic
def award_first_approval(integration: CatalogIntegration, *, actor: Any) -> CreditEntry | None:
    """Credit the integration's workspace for its first approval: exactly once per integration
    (a row lock on the integration plus the ledger's idempotency key), however often this runs."""
    locked = CatalogIntegration.objects.select_for_update().select_related("workspace").get(
        pk=integration.pk)
    if locked.live_revision_id is None:
        return None
    if locked.award_entry_id is not None:
        return locked.award_entry
    entry = credits.award(
        locked.workspace, settings.CATALOG_FIRST_APPROVAL_CREDITS,
        reason=f"Catalog integration “{locked.name}” approved",
        idempotency_key=f"catalog-award:{locked.public_id}", reference=locked,
        reference_url=integration_url(locked), actor=actor)
    locked.award_entry = entry
    locked.first_approved_at = locked.first_approved_at or timezone.now()
    locked.save(update_fields=["award_entry", "first_approved_at"])
    _copy(locked, integration)
    return entry


# --- notifications ------------------------------------------------------------------------


SUBJECTS = {
    Notification.Kind.SUBMITTED: "Review needed: {name}",
    Notification.Kind.APPROVED: "Approved: {name} is in the public catalog",
    Notification.Kind.REJECTED: "Not approved: {name}",
    Notification.Kind.CHANGES_REQUESTED: "Changes requested: {name}",
}


def _notify(recipient: User, kind: str, revision: IntegrationRevision, *, actor: Any,
            url: str, link_base: str = "") -> Notification:
    """In-app notification plus its outbox e-mail, in the caller's transaction; the e-mail is
    sent by a task after commit."""
    integration = revision.integration
    subject = SUBJECTS[kind].format(name=revision.name)
    link_base = (link_base or getattr(settings, "SITE_URL", "")).rstrip("/")
    context = {"recipient": recipient, "integration": integration, "revision": revision,
               "actor": actor, "kind": kind, "url": f"{link_base}{url}",
               "award": settings.CATALOG_FIRST_APPROVAL_CREDITS}
    template = "catalog_submitted" if kind == Notification.Kind.SUBMITTED else "catalog_decision"
    body = render_to_string(f"emails/{template}.txt", context)
    if kind == Notification.Kind.SUBMITTED:
        submitter = revision.submitted_by.display_name if revision.submitted_by else "Someone"
        summary = f"{submitter} submitted revision {revision.number} of {revision.name}."
    else:
        summary = revision.decision_comment
    email = EmailMessage.objects.create(to=recipient.email, subject=subject[:200], body=body)
    notification = Notification.objects.create(
        recipient=recipient, kind=kind, integration=integration, revision=revision,
        subject=subject[:200], body=summary, url=url, email=email)
    # robust: a broker outage must not turn an already committed decision into an error page;
    # the notification stays unsent and resend_unsent_notifications picks it up later.
    transaction.on_commit(lambda: _enqueue(notification.pk), robust=True)
    return notification


def _enqueue(notification_id: int) -> None:
    enqueue.delay("catalog.tasks.send_notification", notification_id)


def resend_unsent_notifications(*, older_than: timedelta = timedelta(minutes=10),
                                within: timedelta = timedelta(days=7)) -> list[int]:
    """Queue again the notifications whose e-mail is still unsent after `older_than` (the
    broker was down when they were made, or every retry failed); sending stays at most once
    per notification (see deliver_notification). Gives up on those older than `within`."""
    now = timezone.now()
    ids = list(Notification.objects
               .filter(email__isnull=False, email__sent_at__isnull=True,
                       created_at__lte=now - older_than,
                       created_at__gte=now - within)
               .order_by("pk").values_list("pk", flat=True))
    for pk in ids:
        _enqueue(pk)
    return ids


def deliver_notification(notification_id: int) -> bool:
    """Send a notification's e-mail unless it was already sent. Safe to run twice, or after a
    worker died mid-send: the outbox row is locked while sending and marked sent in the same
    transaction, so a crash rolls back to "not sent" and a retry sends it once."""
    email_id = (Notification.objects.filter(pk=notification_id)
                .values_list("email_id", flat=True).first())
    if email_id is None:
        return False
    return deliver_email(email_id)


@transaction.atomic
def mark_read(user: User, notification_ids: list[int] | None = None) -> int:
    qs = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_ids is not None:
        qs = qs.filter(pk__in=notification_ids)
    return qs.update(read_at=timezone.now())


def unread_count(user: Any) -> int:
    if not getattr(user, "is_authenticated", False):
        return 0
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


# --- using an integration in an app -------------------------------------------------------


def content_for_app(integration: CatalogIntegration, app: App) -> Any:
    try:
        return integration.content_for(app.workspace)
    except LookupError:
        raise ServiceError("This integration is not available to this app's workspace.",
                           "not_found")


@dataclass
class SecretStatus:
    name: str
    description: str
    how_to_get: str
    is_set: bool


def secret_status(content: Any, app: App, names: set[str] | None = None) -> list[SecretStatus]:
    present = vault.app_secret_names(app) if names is None else names
    return [SecretStatus(s["name"], s.get("description", ""), s.get("how_to_get", ""),
                         s["name"] in present) for s in content.required_secrets or []]


@transaction.atomic
def install_integration(app: App, integration: CatalogIntegration, *, actor: User,
                        values: dict[str, str], reuse: set[str] | None = None,
                        ) -> tuple[Installation, list[str]]:
    """Record the installation and store the given secret values in the app's vault secrets
    (never in the catalog). `reuse` names secrets whose current app value is kept. Returns the
    installation and the names still missing."""
    require_catalog_plan(app.workspace)
    content = content_for_app(integration, app)
    reuse = reuse or set()
    declared = {s["name"] for s in content.required_secrets or []}
    unknown = sorted((set(values) | reuse) - declared)
    if unknown:
        raise ServiceError(f"Not a required secret of “{content.name}”: {', '.join(unknown)}. "
                           f"It needs: {', '.join(sorted(declared)) or 'no secrets'}.",
                           "unknown_secret")
    existing = vault.app_secret_names(app)
    stored: list[str] = []
    missing: list[str] = []
    for secret in content.required_secrets or []:
        name = secret["name"]
        value = values.get(name) or ""
        if value and name not in reuse:
            vault.store_app_secret(app, name, value, actor=actor, audited=False,
                                   description=secret.get("description", ""))
            stored.append(name)
        elif name not in existing:
            missing.append(name)
    installation, created = Installation.objects.get_or_create(
        app=app, integration=integration, defaults={"installed_by": actor})
    if not created:
        installation.save(update_fields=["updated_at"])
    audit.record(app.workspace, actor=actor,
                 action="catalog.install" if created else "catalog.install_update",
                 target_type="catalog_integration", target_name=integration.name,
                 target_id=integration.public_id, scope=f"app:{app.public_id}",
                 changes={"secrets": {name: "changed" for name in stored}, "missing": missing})
    return installation, missing


@transaction.atomic
def uninstall_integration(installation: Installation, *, actor: User) -> None:
    audit.record(installation.app.workspace, actor=actor, action="catalog.uninstall",
                 target_type="catalog_integration", target_name=installation.integration.name,
                 target_id=installation.integration.public_id,
                 scope=f"app:{installation.app.public_id}")
    installation.delete()


def installed_for_app(app: App) -> list[dict[str, Any]]:
    """The app's installed integrations with their prompt and variable names (never values)."""
    names = vault.app_secret_names(app)
    out = []
    for inst in (app.catalog_installations
                 .select_related("integration", "integration__live_revision",
                                 "integration__workspace", "installed_by")):
        try:
            content = inst.integration.content_for(app.workspace)
        except LookupError:
            continue
        out.append({"installation": inst, "integration": inst.integration, "content": content,
                    "secrets": secret_status(content, app, names)})
    return out
