"""Business rules of the ground floor. Views, API views and tasks call these; never the reverse.

Each action runs in a transaction, takes `actor=` and schedules e-mail with on_commit.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.views.decorators.debug import sensitive_variables

from . import audit, credits, enqueue, tokens
from .models import (
    App,
    AppServiceToken,
    AppUser,
    CreditEntry,
    EmailMessage,
    Invitation,
    Membership,
    MembershipEvent,
    PersonalAccessToken,
    RevokedAppUserToken,
    Role,
    User,
    Workspace,
)
from .plans import PLANS, ROLE_FOR, limits
from .validation import check_name

INVITE_SALT = "switchboard.invitation"
DUPLICATE_EMAIL = ("An account with this e-mail already exists. Sign in instead, or reset your "
                   "password.")


class ServiceError(Exception):
    """A rule was broken; the message is safe to show to the user. `field`, when set, names the
    form/serializer field it belongs to: forms show the message there (`add_service_error`) and
    the API adds `"errors": {field: [message]}`."""

    def __init__(self, message: str, code: str = "invalid", field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field


# --- e-mail -----------------------------------------------------------------------------------


def queue_email(to: str, subject: str, template: str, context: dict[str, Any]) -> EmailMessage:
    return queue_email_text(to, subject, render_to_string(f"emails/{template}.txt", context))


def queue_email_text(to: str, subject: str, body: str) -> EmailMessage:
    """Store the message and send it from a Celery task once the transaction commits."""
    msg = EmailMessage.objects.create(to=to, subject=subject[:200], body=body)
    transaction.on_commit(lambda: enqueue.delay("workspaces.tasks.send_email", msg.pk))
    return msg


def queue_link_email(to: str, subject: str, link_kind: str,
                     link_context: dict[str, Any]) -> EmailMessage:
    """Queue a message whose text holds a secret link (see LINK_EMAILS): only `link_kind` and
    the non-secret `link_context` are stored; the text and its link are made at send time."""
    if link_kind not in LINK_EMAILS:
        raise ValueError(f"Unknown link e-mail {link_kind!r}")
    msg = EmailMessage.objects.create(to=to, subject=subject[:200], link_kind=link_kind,
                                      link_context=link_context)
    transaction.on_commit(lambda: enqueue.delay("workspaces.tasks.send_email", msg.pk))
    return msg


def _invitation_email(msg: EmailMessage) -> str | None:
    invitation = (Invitation.objects.select_related("workspace", "invited_by")
                  .filter(pk=msg.link_context.get("invitation")).first())
    if invitation is None or not invitation.is_pending:
        return None  # withdrawn or replaced before it went out: nothing to send
    return render_to_string("emails/invitation.txt", {
        "workspace": invitation.workspace, "inviter": invitation.invited_by,
        "role": invitation.role, "url": invitation_link(invitation, msg.link_context["base"]),
        "days": settings.INVITATION_MAX_AGE_SECONDS // 86400})


def _password_reset_email(msg: EmailMessage) -> str | None:
    ctx = msg.link_context
    user = User.objects.filter(pk=ctx.get("user"), is_active=True).first()
    if user is None:
        return None
    return render_to_string(ctx["template"], {
        **{k: ctx[k] for k in ("email", "domain", "site_name", "protocol")},
        "user": user, "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user)})


#: E-mails whose text holds a secret link, rendered only when sent (never stored).
LINK_EMAILS = {"invitation": _invitation_email, "password_reset": _password_reset_email}


@sensitive_variables("body")
def deliver_email(message_id: int) -> bool:
    """Send one queued message unless it was already sent. Returns True when it sent now."""
    from django.core.mail import send_mail

    with transaction.atomic():
        msg = EmailMessage.objects.select_for_update().filter(pk=message_id).first()
        if msg is None or msg.sent_at is not None:
            return False
        body = LINK_EMAILS[msg.link_kind](msg) if msg.link_kind else msg.body
        if body is None:  # its link is void now: mark it done without sending
            msg.sent_at = timezone.now()
            msg.save(update_fields=["sent_at"])
            return False
        msg.attempts += 1
        msg.save(update_fields=["attempts"])
        send_mail(msg.subject, body, settings.DEFAULT_FROM_EMAIL, [msg.to])
        msg.sent_at = timezone.now()
        msg.save(update_fields=["sent_at"])
    return True


# --- users and workspaces ---------------------------------------------------------------------


def month_key(now: Any = None) -> str:
    return (now or timezone.now()).strftime("%Y-%m")


def _monthly_grant_key(workspace: Workspace, month: str) -> str:
    return f"grant:{workspace.public_id}:{month}"


def _upgrade_key_prefix(workspace: Workspace, month: str) -> str:
    return f"plan-upgrade:{workspace.public_id}:{month}:"


def grant_monthly_credits(workspace: Workspace, now: Any = None) -> None:
    month = month_key(now)
    credits.grant(
        workspace,
        limits(workspace).monthly_credits,
        reason=f"{workspace.get_plan_display()} plan grant for {month}",
        idempotency_key=_monthly_grant_key(workspace, month),
    )


def granted_this_month(workspace: Workspace, now: Any = None) -> int:
    """Plan credits granted for the month: the monthly grant plus upgrade differences."""
    month = month_key(now)
    total = (CreditEntry.objects
             .filter(Q(idempotency_key=_monthly_grant_key(workspace, month))
                     | Q(idempotency_key__startswith=_upgrade_key_prefix(workspace, month)),
                     workspace=workspace, kind=CreditEntry.Kind.GRANT)
             .aggregate(total=Sum("amount"))["total"])
    return int(total or 0)


@transaction.atomic
def create_workspace(*, actor: User, name: str, kind: str = Workspace.Kind.SHARED,
                     plan: str = "free") -> Workspace:
    name = name.strip()
    if not name:
        raise ServiceError("Give the workspace a name.")
    check_name(name, what="A workspace name")
    workspace = Workspace.objects.create(name=name, kind=kind, plan=plan)
    Membership.objects.create(workspace=workspace, user=actor, role=Role.OWNER)
    grant_monthly_credits(workspace)
    audit.record(workspace, actor, "workspace.create", workspace,
                 audit.diff(None, {"name": name, "kind": kind, "plan": plan}))
    return workspace


def email_taken(email: str) -> bool:
    return User.objects.filter(email__iexact=email.strip()).exists()


@sensitive_variables()
@transaction.atomic
def sign_up(*, email: str, password: str, name: str = "") -> User:
    email = email.strip().lower()
    check_name(name, what="Your name")
    if email_taken(email):
        raise ServiceError(DUPLICATE_EMAIL, "duplicate", "email")
    try:
        # A concurrent sign-up can insert the address after the check: same answer, no 500.
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, name=name.strip())
    except IntegrityError:
        raise ServiceError(DUPLICATE_EMAIL, "duplicate", "email") from None
    create_workspace(actor=user, name=f"{user.display_name}'s workspace",
                     kind=Workspace.Kind.PERSONAL)
    return user


def personal_workspace(user: User) -> Workspace | None:
    return Workspace.objects.filter(memberships__user=user, kind=Workspace.Kind.PERSONAL).first()


@transaction.atomic
def update_workspace(workspace: Workspace, *, actor: User, name: str) -> Workspace:
    name = name.strip()
    if not name:
        raise ServiceError("Give the workspace a name.")
    check_name(name, what="A workspace name")
    before = workspace.name
    workspace.name = name
    workspace.save(update_fields=["name"])
    if before != name:
        audit.record(workspace, actor, "workspace.update", workspace,
                     audit.diff({"name": before}, {"name": name}))
    return workspace


@dataclass(frozen=True)
class PlanChange:
    workspace: Workspace
    previous: str
    credits_granted: int  # the upgrade's difference granted now (0 on a downgrade or repeat)


@transaction.atomic
def change_plan(workspace: Workspace, *, actor: User, plan: str) -> PlanChange:
    """Takes effect at once. An upgrade grants the difference between the new plan's monthly
    credits and what this month's grants gave already (one entry per workspace, month and
    plan, idempotent): free->builder->pro in one month adds up to pro's amount, never more.
    A downgrade removes no credits; next month's grant is the new plan's, as always."""
    if plan not in PLANS:
        raise ServiceError("Unknown plan.")
    # Plan changes of a workspace are made one at a time (its row lock): two concurrent
    # upgrades would otherwise both read the same month's total and grant twice.
    locked = Workspace.objects.select_for_update().get(pk=workspace.pk)
    previous = locked.plan
    workspace.plan = plan
    workspace.save(update_fields=["plan"])
    now = timezone.now()
    month = month_key(now)
    # This month's grant exists before the difference is counted (the beat may not have run
    # yet on the 1st): then it is the new plan's amount and no difference is needed.
    grant_monthly_credits(workspace, now)
    difference = PLANS[plan].monthly_credits - granted_this_month(workspace, now)
    granted = 0
    if difference > 0:
        entry = credits.grant(
            workspace, difference,
            reason=f"Upgrade to {workspace.get_plan_display()}: the rest of its {month} grant",
            idempotency_key=f"{_upgrade_key_prefix(workspace, month)}{plan}")
        granted = entry.amount
    if previous != plan:
        audit.record(workspace, actor, "workspace.plan_changed", workspace,
                     {**audit.diff({"plan": previous}, {"plan": plan}),
                      "credits_granted": granted})
    return PlanChange(workspace=workspace, previous=previous, credits_granted=granted)


# --- members ----------------------------------------------------------------------------------


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps({"i": invitation.pk, "e": invitation.email}, salt=INVITE_SALT)


def invitation_link(invitation: Invitation, base: str = "") -> str:
    """The e-mail's link: /invite/<public id>/#<token>. The token is in the fragment, which
    browsers never send to a server (so it is in no access log, no Referer, no redirect);
    the page's script POSTs it (see views.invitation)."""
    base = (base or getattr(settings, "SITE_URL", "")).rstrip("/")
    return f"{base}/invite/{invitation.public_id}/#{invitation_token(invitation)}"


@transaction.atomic
def invite(workspace: Workspace, *, actor: User, email: str, role: str = Role.MEMBER,
           link_base: str = "") -> Invitation:
    """Invite `email`; a pending invitation to the same address is replaced (revoked) by the
    new one, which is e-mailed again. `link_base` is the portal's address for the link."""
    if not workspace.is_shared:
        raise ServiceError("A personal workspace is just for you. Create a shared workspace to "
                           "invite people.")
    if role not in Role.values:
        raise ServiceError("Unknown role.")
    actor_membership = Membership.objects.get(workspace=workspace, user=actor)
    if role == Role.OWNER and actor_membership.role != Role.OWNER:
        raise ServiceError("Only an owner can invite another owner.", "forbidden")
    email = email.strip().lower()
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise ServiceError(f"{email} is already a member of this workspace.", "duplicate")
    # Invitations of a workspace are made one at a time (its row lock), so a concurrent
    # invitation to the same address waits, then replaces this one; the partial unique index
    # one_pending_invitation_per_email holds it even without the lock.
    Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
    Invitation.objects.filter(workspace=workspace, email=email, accepted_at=None,
                              revoked_at=None).update(revoked_at=timezone.now())
    try:
        with transaction.atomic():
            invitation = Invitation.objects.create(workspace=workspace, email=email, role=role,
                                                   invited_by=actor)
    except IntegrityError:
        raise ServiceError(f"An invitation to {email} was sent at the same moment. Check the "
                           "pending invitations.", "duplicate", "email") from None
    audit.record(workspace, actor, "member.invite", _invitation_target(invitation),
                 audit.diff(None, {"email": email, "role": role}))
    queue_link_email(email, f"You're invited to {workspace.name} on Switchboard", "invitation",
                     {"invitation": invitation.pk, "base": link_base})
    return invitation


def _invitation_target(invitation: Invitation) -> audit.Target:
    return audit.Target("invitation", str(invitation.pk), invitation.email)


def _member_target(membership: Membership) -> audit.Target:
    return audit.Target("member", str(membership.user_id), membership.user.email)


def read_invitation(token: str) -> Invitation:
    try:
        data = signing.loads(token, salt=INVITE_SALT, max_age=settings.INVITATION_MAX_AGE_SECONDS)
    except signing.SignatureExpired:
        raise ServiceError("This invitation has expired. Ask for a new one.", "expired")
    except signing.BadSignature:
        raise ServiceError("This invitation link is not valid.", "invalid")
    invitation = Invitation.objects.select_related("workspace").filter(pk=data.get("i")).first()
    if invitation is None or invitation.email != data.get("e"):
        raise ServiceError("This invitation link is not valid.", "invalid")
    if invitation.revoked_at is not None:
        raise ServiceError("This invitation was withdrawn.", "revoked")
    return invitation


def open_invitation(public_id: str, token: str) -> Invitation:
    """The invitation at /invite/<public_id>/, when `token` is its token."""
    invitation = read_invitation(token)
    if invitation.public_id != public_id:
        raise ServiceError("This invitation link is not valid.", "invalid")
    return invitation


def opened_invitation(public_id: str) -> Invitation:
    """An invitation whose token this browser already showed (views keep only that fact in
    the session, never the token): still pending, not expired."""
    invitation = (Invitation.objects.select_related("workspace")
                  .filter(public_id=public_id).first())
    if invitation is None:
        raise ServiceError("This invitation link is not valid.", "invalid")
    if invitation.revoked_at is not None:
        raise ServiceError("This invitation was withdrawn.", "revoked")
    age = (timezone.now() - invitation.created_at).total_seconds()
    if invitation.accepted_at is None and age > settings.INVITATION_MAX_AGE_SECONDS:
        raise ServiceError("This invitation has expired. Ask for a new one.", "expired")
    return invitation


@transaction.atomic
def accept_invitation(token_or_invitation: str | Invitation, *, actor: User) -> Membership:
    """Accept by token (API, tests) or an invitation already opened with its token."""
    if isinstance(token_or_invitation, Invitation):
        invitation = opened_invitation(token_or_invitation.public_id)
    else:
        invitation = read_invitation(token_or_invitation)
    if invitation.accepted_at is not None:
        existing = Membership.objects.filter(workspace=invitation.workspace, user=actor).first()
        if existing:
            return existing
        raise ServiceError("This invitation has already been used.", "used")
    if invitation.email.lower() != actor.email.lower():
        raise ServiceError(f"This invitation is for {invitation.email}. Sign in with that "
                           "address to accept it.", "wrong_user")
    membership, joined = Membership.objects.get_or_create(
        workspace=invitation.workspace, user=actor, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = actor
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    if joined:
        audit.record(invitation.workspace, actor, "member.join", _member_target(membership),
                     {**audit.diff(None, {"role": membership.role}),
                      "invitation": invitation.pk})
    return membership


@transaction.atomic
def revoke_invitation(invitation: Invitation, *, actor: User) -> None:
    if invitation.revoked_at is not None:
        return
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    audit.record(invitation.workspace, actor, "member.invitation_revoke",
                 _invitation_target(invitation),
                 audit.diff({"email": invitation.email, "role": invitation.role}, None))


def _lock_owners(workspace: Workspace) -> int:
    owners = list(Membership.objects.select_for_update()
                  .filter(workspace=workspace, role=Role.OWNER).values_list("pk", flat=True))
    return len(owners)


@transaction.atomic
def change_role(membership: Membership, *, actor: User, role: str) -> Membership:
    if role not in Role.values:
        raise ServiceError("Unknown role.")
    actor_membership = Membership.objects.get(workspace=membership.workspace, user=actor)
    touches_owner = Role.OWNER in (role, membership.role)
    if touches_owner and actor_membership.role != Role.OWNER:
        raise ServiceError("Only an owner can make or unmake owners.", "forbidden")
    if membership.role == Role.OWNER and role != Role.OWNER:
        if _lock_owners(membership.workspace) <= 1:
            raise ServiceError("A workspace needs at least one owner. Make someone else owner "
                               "first.", "last_owner")
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    if before != role:
        audit.record(membership.workspace, actor, "member.role_change",
                     _member_target(membership), audit.diff({"role": before}, {"role": role}))
    return membership


@transaction.atomic
def remove_member(membership: Membership, *, actor: User) -> None:
    actor_membership = Membership.objects.get(workspace=membership.workspace, user=actor)
    leaving = membership.user_id == actor.pk
    if not leaving and membership.role == Role.OWNER and actor_membership.role != Role.OWNER:
        raise ServiceError("Only an owner can remove an owner.", "forbidden")
    if membership.workspace.kind == Workspace.Kind.PERSONAL:
        raise ServiceError("You cannot leave your personal workspace.", "personal")
    if membership.role == Role.OWNER and _lock_owners(membership.workspace) <= 1:
        raise ServiceError("A workspace needs at least one owner. Make someone else owner "
                           "first.", "last_owner")
    MembershipEvent.objects.create(
        workspace=membership.workspace, user=membership.user, role=membership.role,
        kind=MembershipEvent.Kind.LEFT if leaving else MembershipEvent.Kind.REMOVED,
        actor=actor, member_since=membership.created_at)
    audit.record(membership.workspace, actor, "member.leave" if leaving else "member.remove",
                 _member_target(membership), audit.diff({"role": membership.role}, None))
    membership.delete()


def was_member_within(workspace_id: int, user: Any, days: int) -> bool:
    """True when `user` is a member of the workspace, or stopped being one less than `days`
    days ago (membership history: MembershipEvent)."""
    if Membership.objects.filter(workspace_id=workspace_id, user=user).exists():
        return True
    since = timezone.now() - timedelta(days=days)
    return MembershipEvent.objects.filter(workspace_id=workspace_id, user=user,
                                          created_at__gt=since).exists()


def recently_left_user_ids(workspace_id: int, days: int) -> Any:
    """Ids (a subquery) of the users who stopped being members less than `days` days ago."""
    since = timezone.now() - timedelta(days=days)
    return (MembershipEvent.objects.filter(workspace_id=workspace_id, created_at__gt=since)
            .values("user_id"))


# --- apps and tokens --------------------------------------------------------------------------


@transaction.atomic
def create_app(workspace: Workspace, *, actor: User, name: str,
               allow_anonymous_integration_calls: bool = False,
               monthly_credit_cap: int | None = None, sandbox_mode: bool = False) -> App:
    name = name.strip()
    if not name:
        raise ServiceError("Give the app a name.")
    check_name(name, what="An app name")
    # Count under the workspace's row lock: two requests racing for the last slot make one app.
    Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
    if allow_anonymous_integration_calls:
        _require_anonymous_calls_role(workspace, actor)
    _require_admin_settings(workspace, actor, cap=monthly_credit_cap is not None,
                            sandbox=sandbox_mode)
    if App.objects.filter(workspace=workspace).count() >= limits(workspace).max_apps:
        raise ServiceError(f"The {workspace.get_plan_display()} plan allows "
                           f"{limits(workspace).max_apps} apps. Upgrade to add more.", "plan")
    app = App.objects.create(workspace=workspace, name=name, created_by=actor,
                             allow_anonymous_integration_calls=allow_anonymous_integration_calls,
                             monthly_credit_cap=monthly_credit_cap, sandbox_mode=sandbox_mode)
    created = {"name": name, "allow_anonymous_integration_calls":
               allow_anonymous_integration_calls}
    created.update({k: v for k, v in (("monthly_credit_cap", monthly_credit_cap),
                                      ("sandbox_mode", sandbox_mode)) if v})
    _audit_app(app, actor, "app.create", audit.diff(None, created))
    return app


ADMIN_SETTINGS_REFUSED = {
    "monthly_credit_cap": "Only workspace admins and owners can set or change an app's monthly "
                          "credit cap.",
    "sandbox_mode": "Only workspace admins and owners can switch an app's sandbox mode.",
}


def _require_admin_settings(workspace: Workspace, actor: User, *, cap: bool,
                            sandbox: bool) -> None:
    """The app's monthly credit cap and its sandbox switch are admins' and owners' settings."""
    wanted = [f for f, on in (("monthly_credit_cap", cap), ("sandbox_mode", sandbox)) if on]
    if not wanted:
        return
    membership = Membership.objects.filter(workspace=workspace, user=actor).first()
    for field in wanted:
        action = "set_app_credit_cap" if field == "monthly_credit_cap" else "set_sandbox_mode"
        if membership is None or not membership.has_role(ROLE_FOR[action]):
            raise ServiceError(ADMIN_SETTINGS_REFUSED[field], "forbidden", field)


ANONYMOUS_CALLS_REFUSED = (
    "Only workspace admins and owners can allow anonymous integration calls: anyone on the "
    "internet could then call this workspace's integrations through the app, with their secret "
    "headers, on the workspace's credits. Ask an admin to turn it on.")


def _require_anonymous_calls_role(workspace: Workspace, actor: User) -> None:
    """Turning anonymous calls on is an admin's decision (turning them off is anyone's who
    manages the app)."""
    membership = Membership.objects.filter(workspace=workspace, user=actor).first()
    if membership is None or not membership.has_role(ROLE_FOR["allow_anonymous_calls"]):
        raise ServiceError(ANONYMOUS_CALLS_REFUSED, "forbidden",
                           "allow_anonymous_integration_calls")


def _audit_app(app: App, actor: Any, action: str, changes: dict[str, Any]) -> None:
    audit.record(app.workspace, actor, action, app, changes, scope=f"app:{app.public_id}")


@transaction.atomic
def update_app(app: App, *, actor: User, name: str | None = None,
               allow_anonymous_integration_calls: bool | None = None,
               monthly_credit_cap: Any = ..., sandbox_mode: bool | None = None) -> App:
    """Rename, switch anonymous integration calls (on: admins and owners only), set the
    monthly credit cap (`None`: no cap; leave out: unchanged) or the sandbox switch (both
    admins and owners only). One audit entry with every field changed. A refused change
    changes nothing, not even the name sent with it."""
    before = app.allow_anonymous_integration_calls
    old = audit.snapshot(app, APP_SETTINGS)
    anonymous = before if allow_anonymous_integration_calls is None \
        else allow_anonymous_integration_calls
    if anonymous and not before:
        _require_anonymous_calls_role(app.workspace, actor)
    cap = app.monthly_credit_cap if monthly_credit_cap is ... else monthly_credit_cap
    sandbox = app.sandbox_mode if sandbox_mode is None else sandbox_mode
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise ServiceError("A monthly credit cap is a whole number of credits, 1 or more "
                           "(empty: no cap).", field="monthly_credit_cap")
    _require_admin_settings(app.workspace, actor, cap=cap != app.monthly_credit_cap,
                            sandbox=sandbox != app.sandbox_mode)
    if name is not None and not name.strip():
        raise ServiceError("Give the app a name.", field="name")
    check_name(name, what="An app name")
    if name is not None:
        app.name = name.strip()
    app.allow_anonymous_integration_calls = anonymous
    app.monthly_credit_cap = cap
    app.sandbox_mode = sandbox
    app.save()
    changes = audit.diff(old, audit.snapshot(app, APP_SETTINGS))
    if changes:  # a security or money decision is its own action
        action = ("app.anonymous_calls" if anonymous != before
                  else "app.sandbox_mode" if "sandbox_mode" in changes
                  else "app.credit_cap" if "monthly_credit_cap" in changes else "app.update")
        _audit_app(app, actor, action, changes)
    return app


#: The app settings an edit can change (audited field by field).
APP_FIELDS = ("name", "allow_anonymous_integration_calls")
APP_SETTINGS = (*APP_FIELDS, "monthly_credit_cap", "sandbox_mode")


@transaction.atomic
def delete_app(app: App, *, actor: User) -> None:
    _audit_app(app, actor, "app.delete", audit.diff(audit.snapshot(app, APP_FIELDS), None))
    app.delete()


@transaction.atomic
def create_service_token(app: App, *, actor: User, name: str) -> tuple[AppServiceToken, str]:
    name = name.strip() or "Service token"
    check_name(name, what="A token name")
    row, raw = tokens.issue(AppServiceToken, app=app, name=name, created_by=actor)
    _audit_service_token(row, actor, "service_token.create",
                         audit.diff(None, {"name": row.name, "prefix": row.masked}))
    return row, raw


def _audit_service_token(token: AppServiceToken, actor: Any, action: str,
                         changes: dict[str, Any]) -> None:
    audit.record(token.app.workspace, actor, action,
                 audit.Target("service_token", str(token.pk), token.name), changes,
                 scope=f"app:{token.app.public_id}")


def _revoke(token: AppServiceToken | PersonalAccessToken) -> bool:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        return True
    return False


@transaction.atomic
def revoke_service_token(token: AppServiceToken, *, actor: User) -> None:
    if _revoke(token):
        _audit_service_token(token, actor, "service_token.revoke",
                             audit.diff({"revoked": False}, {"revoked": True}))


@transaction.atomic
def create_personal_token(*, actor: User, name: str) -> tuple[PersonalAccessToken, str]:
    name = name.strip()
    if not name:
        raise ServiceError("Give the token a name, so you know later what uses it.")
    check_name(name, what="A token name")
    row, raw = tokens.issue(PersonalAccessToken, user=actor, name=name)
    _audit_personal_token(row, actor, "personal_token.create",
                          audit.diff(None, {"name": row.name, "prefix": row.masked}))
    return row, raw


def _audit_personal_token(token: PersonalAccessToken, actor: Any, action: str,
                          changes: dict[str, Any]) -> None:
    """A personal access token acts in every workspace of its user: each of them gets the
    entry."""
    workspaces = Workspace.objects.filter(memberships__user_id=token.user_id)
    audit.record_many(workspaces, actor, action,
                      audit.Target("personal_token", str(token.pk), token.name), changes)


@transaction.atomic
def revoke_personal_token(token: PersonalAccessToken, *, actor: User) -> None:
    if _revoke(token):
        _audit_personal_token(token, actor, "personal_token.revoke",
                              audit.diff({"revoked": False}, {"revoked": True}))


def mint_app_user_token(app: App, external_id: str,
                        ttl_seconds: int | None = None) -> tokens.MintedToken:
    external_id = str(external_id).strip()
    if not external_id or len(external_id) > 200:
        raise ServiceError("app_user_id must be a non-empty string of at most 200 characters.")
    if ttl_seconds is not None and not (60 <= ttl_seconds <= 60 * 60 * 24 * 30):
        raise ServiceError("ttl_seconds must be between 60 and 2592000.")
    app_user, _ = AppUser.objects.get_or_create(app=app, external_id=external_id)
    app_user.app = app
    return tokens.mint_app_user_token(app_user, ttl_seconds)


TOKEN_NOT_VALID = "The app-user token is not valid."


def revoke_app_user_token(app: App, raw_token: str) -> None:
    """Revoke one of this app's app-user tokens (again: a no-op). Anything else (another
    app's token, an unknown app, a forged or malformed token) gets one and the same answer,
    so the endpoint tells nothing about other apps' tokens."""
    if tokens.token_audience(raw_token) != app.public_id:
        raise ServiceError(TOKEN_NOT_VALID)
    try:
        _, _, claims = tokens.decode_app_user_token(raw_token)
    except tokens.InvalidAppUserToken as exc:
        if "revoked" in str(exc):
            return
        raise ServiceError(TOKEN_NOT_VALID if "expired" not in str(exc) else str(exc))
    RevokedAppUserToken.objects.get_or_create(
        jti=claims["jti"],
        defaults={"app": app, "expires_at": datetime.fromtimestamp(claims["exp"], tz=UTC)},
    )


@transaction.atomic
def revoke_all_app_user_tokens(app: App, *, actor: User) -> None:
    app.jwt_salt = secrets.token_hex(32)
    app.save(update_fields=["jwt_salt"])
    _audit_app(app, actor, "app.user_tokens_revoked",
               audit.diff({"signing_key": 1}, {"signing_key": 2}, secret=["signing_key"]))
