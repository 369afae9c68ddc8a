"""Business rules of the ground floor. Views, API views and tasks call these; never the reverse.

Each action runs in a transaction, takes `actor=` and schedules e-mail with on_commit.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from . import audit, credits, tokens
from .models import (
    App,
    AppServiceToken,
    AppUser,
    EmailMessage,
    Invitation,
    Membership,
    PersonalAccessToken,
    RevokedAppUserToken,
    Role,
    User,
    Workspace,
)
from .plans import PLANS, ROLE_FOR, limits

INVITE_SALT = "switchboard.invitation"


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
    from .tasks import send_email  # tasks import services, so import late

    transaction.on_commit(lambda: send_email.delay(msg.pk))
    return msg


def deliver_email(message_id: int) -> bool:
    """Send one queued message unless it was already sent. Returns True when it sent now."""
    from django.core.mail import send_mail

    with transaction.atomic():
        msg = EmailMessage.objects.select_for_update().filter(pk=message_id).first()
        if msg is None or msg.sent_at is not None:
            return False
        msg.attempts += 1
        msg.save(update_fields=["attempts"])
        send_mail(msg.subject, msg.body, settings.DEFAULT_FROM_EMAIL, [msg.to])
        msg.sent_at = timezone.now()
        msg.save(update_fields=["sent_at"])
    return True


# --- users and workspaces ---------------------------------------------------------------------


def month_key(now: Any = None) -> str:
    return (now or timezone.now()).strftime("%Y-%m")


def grant_monthly_credits(workspace: Workspace, now: Any = None) -> None:
    month = month_key(now)
    credits.grant(
        workspace,
        limits(workspace).monthly_credits,
        reason=f"{workspace.get_plan_display()} plan grant for {month}",
        idempotency_key=f"grant:{workspace.public_id}:{month}",
    )


@transaction.atomic
def create_workspace(*, actor: User, name: str, kind: str = Workspace.Kind.SHARED,
                     plan: str = "free") -> Workspace:
    name = name.strip()
    if not name:
        raise ServiceError("Give the workspace a name.")
    workspace = Workspace.objects.create(name=name, kind=kind, plan=plan)
    Membership.objects.create(workspace=workspace, user=actor, role=Role.OWNER)
    grant_monthly_credits(workspace)
    return workspace


@sensitive_variables()
@transaction.atomic
def sign_up(*, email: str, password: str, name: str = "") -> User:
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ServiceError("An account with this e-mail already exists.", "duplicate")
    user = User.objects.create_user(email=email, password=password, name=name.strip())
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
    workspace.name = name
    workspace.save(update_fields=["name"])
    return workspace


@transaction.atomic
def change_plan(workspace: Workspace, *, actor: User, plan: str) -> Workspace:
    if plan not in PLANS:
        raise ServiceError("Unknown plan.")
    workspace.plan = plan
    workspace.save(update_fields=["plan"])
    return workspace


# --- members ----------------------------------------------------------------------------------


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps({"i": invitation.pk, "e": invitation.email}, salt=INVITE_SALT)


@transaction.atomic
def invite(workspace: Workspace, *, actor: User, email: str, role: str = Role.MEMBER,
           accept_url_builder: Any = None) -> Invitation:
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
    Invitation.objects.filter(workspace=workspace, email=email, accepted_at=None,
                              revoked_at=None).update(revoked_at=timezone.now())
    invitation = Invitation.objects.create(workspace=workspace, email=email, role=role,
                                           invited_by=actor)
    token = invitation_token(invitation)
    url = accept_url_builder(token) if accept_url_builder else token
    queue_email(email, f"You're invited to {workspace.name} on Switchboard", "invitation",
                {"workspace": workspace, "inviter": actor, "url": url, "role": role,
                 "days": settings.INVITATION_MAX_AGE_SECONDS // 86400})
    return invitation


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


@transaction.atomic
def accept_invitation(token: str, *, actor: User) -> Membership:
    invitation = read_invitation(token)
    if invitation.accepted_at is not None:
        existing = Membership.objects.filter(workspace=invitation.workspace, user=actor).first()
        if existing:
            return existing
        raise ServiceError("This invitation has already been used.", "used")
    if invitation.email.lower() != actor.email.lower():
        raise ServiceError(f"This invitation is for {invitation.email}. Sign in with that "
                           "address to accept it.", "wrong_user")
    membership, _ = Membership.objects.get_or_create(
        workspace=invitation.workspace, user=actor, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = actor
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


@transaction.atomic
def revoke_invitation(invitation: Invitation, *, actor: User) -> None:
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])


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
    membership.role = role
    membership.save(update_fields=["role"])
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
    membership.delete()


# --- apps and tokens --------------------------------------------------------------------------


@transaction.atomic
def create_app(workspace: Workspace, *, actor: User, name: str,
               allow_anonymous_integration_calls: bool = False) -> App:
    name = name.strip()
    if not name:
        raise ServiceError("Give the app a name.")
    # Count under the workspace's row lock: two requests racing for the last slot make one app.
    Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
    if allow_anonymous_integration_calls:
        _require_anonymous_calls_role(workspace, actor)
    if App.objects.filter(workspace=workspace).count() >= limits(workspace).max_apps:
        raise ServiceError(f"The {workspace.get_plan_display()} plan allows "
                           f"{limits(workspace).max_apps} apps. Upgrade to add more.", "plan")
    app = App.objects.create(workspace=workspace, name=name, created_by=actor,
                             allow_anonymous_integration_calls=allow_anonymous_integration_calls)
    if allow_anonymous_integration_calls:
        _audit_anonymous_calls(app, actor, False, True)
    return app


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


def _audit_anonymous_calls(app: App, actor: User, before: bool, after: bool) -> None:
    audit.record(app.workspace, actor=actor, action="app.anonymous_calls", target_type="app",
                 target_name=app.name, scope=f"app:{app.public_id}",
                 changes={"allow_anonymous_integration_calls": {"from": before, "to": after}})


@transaction.atomic
def update_app(app: App, *, actor: User, name: str | None = None,
               allow_anonymous_integration_calls: bool | None = None) -> App:
    """Rename, or switch anonymous integration calls (on: admins and owners only, audited).
    A refused change changes nothing, not even the name sent with it."""
    before = app.allow_anonymous_integration_calls
    anonymous = before if allow_anonymous_integration_calls is None \
        else allow_anonymous_integration_calls
    if anonymous and not before:
        _require_anonymous_calls_role(app.workspace, actor)
    if name is not None and not name.strip():
        raise ServiceError("Give the app a name.", field="name")
    if name is not None:
        app.name = name.strip()
    app.allow_anonymous_integration_calls = anonymous
    app.save()
    if anonymous != before:
        _audit_anonymous_calls(app, actor, before, anonymous)
    return app


@transaction.atomic
def delete_app(app: App, *, actor: User) -> None:
    app.delete()


@transaction.atomic
def create_service_token(app: App, *, actor: User, name: str) -> tuple[AppServiceToken, str]:
    name = name.strip() or "Service token"
    return tokens.issue(AppServiceToken, app=app, name=name, created_by=actor)


def _revoke(token: AppServiceToken | PersonalAccessToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


@transaction.atomic
def revoke_service_token(token: AppServiceToken, *, actor: User) -> None:
    _revoke(token)


@transaction.atomic
def create_personal_token(*, actor: User, name: str) -> tuple[PersonalAccessToken, str]:
    name = name.strip()
    if not name:
        raise ServiceError("Give the token a name, so you know later what uses it.")
    return tokens.issue(PersonalAccessToken, user=actor, name=name)


@transaction.atomic
def revoke_personal_token(token: PersonalAccessToken, *, actor: User) -> None:
    _revoke(token)


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


def revoke_app_user_token(app: App, raw_token: str) -> None:
    try:
        token_app, _, claims = tokens.decode_app_user_token(raw_token)
    except tokens.InvalidAppUserToken as exc:
        if "revoked" in str(exc):
            return
        raise ServiceError(str(exc))
    if token_app.pk != app.pk:
        raise ServiceError("That token belongs to another app.")
    RevokedAppUserToken.objects.get_or_create(
        jti=claims["jti"],
        defaults={"app": app, "expires_at": datetime.fromtimestamp(claims["exp"], tz=UTC)},
    )


@transaction.atomic
def revoke_all_app_user_tokens(app: App, *, actor: User) -> None:
    app.jwt_salt = secrets.token_hex(32)
    app.save(update_fields=["jwt_salt"])
