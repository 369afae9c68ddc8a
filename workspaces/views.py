"""Dashboard views: thin; rules live in services.py, access in access.py."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from . import app_caps, plan_impact, services
from .access import (
    can_manage_app,
    get_workspace_for,
    get_workspace_object,
    may_manage_app,
    require_role,
)
from .context_processors import LAST_WORKSPACE_KEY
from .forms import (
    AppForm,
    AppSettingsForm,
    InviteForm,
    PlanForm,
    RoleForm,
    SignUpForm,
    TokenForm,
    WorkspaceForm,
    add_service_error,
)
from .models import App, AppServiceToken, Invitation, Membership, PersonalAccessToken, Plan
from .plans import PLANS, ROLE_FOR

TokenT = TypeVar("TokenT", AppServiceToken, PersonalAccessToken)


SHOW_ONCE_KEY = "show_once_token"


def _redirect_showing_once(request: HttpRequest, raw: str, url_name: str,
                           **kwargs: str) -> HttpResponse:
    """Post/redirect/get for a new token: the next GET shows it once, then it is gone.

    (Rendering it in the POST response would let a browser reload re-submit the form.)
    """
    request.session[SHOW_ONCE_KEY] = raw
    return redirect(url_name, **kwargs)


def _posted_token(request: HttpRequest, model: type[TokenT], **scope: Any) -> TokenT:
    """The token row named by the form's `token_id`, within `scope`; 404 for a missing or
    malformed id (never a 500)."""
    token_id = request.POST.get("token_id", "")
    if not token_id.isdecimal():
        raise Http404("No such token.")
    return get_object_or_404(model, pk=int(token_id), **scope)


def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect("login")
    # The workspace used last (remembered by the nav context processor), else a shared one.
    mine = Membership.objects.filter(user=request.user).select_related("workspace")
    last = request.session.get(LAST_WORKSPACE_KEY)
    m = (mine.filter(workspace__public_id=last).first() if last else None) or mine.order_by(
        "-workspace__kind", "created_at").first()
    if m is None:
        return redirect("workspaces")
    return redirect("apps", workspace_id=m.workspace.public_id)


def _invitation_from_next(request: HttpRequest, next_url: str) -> Invitation | None:
    """The invitation a sign-up or sign-in continues (``next=/invite/<public id>/``), when this
    browser opened it with its token (the session remembers that; the token itself is never
    kept). Anyone else gets None: a public id alone reveals no address."""
    match = INVITATION_PATH.fullmatch(next_url or "")
    if not match or match.group(1) not in request.session.get(OPENED_INVITATIONS_KEY, []):
        return None
    try:
        return services.opened_invitation(match.group(1))
    except services.ServiceError:
        return None


@sensitive_post_parameters("password")
@sensitive_variables()
def signup(request: HttpRequest) -> HttpResponse:
    """Sign-up; from an invitation (``?next=/invite/<id>/``, opened in this browser) the
    address is filled in and a new account with that address joins the workspace at once."""
    if request.user.is_authenticated:
        return redirect("home")
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = ""
    invitation = _invitation_from_next(request, next_url)
    initial = {"email": invitation.email} if invitation else None
    form = SignUpForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.sign_up(email=form.cleaned_data["email"],
                                    password=form.cleaned_data["password"],
                                    name=form.cleaned_data["name"])
        except services.ServiceError as exc:
            add_service_error(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            if invitation is not None and invitation.email.lower() == user.email.lower():
                try:
                    joined = services.accept_invitation(invitation, actor=user)
                except services.ServiceError as exc:
                    messages.error(request, exc.message)
                else:
                    request.session[OPENED_INVITATIONS_KEY] = [
                        p for p in request.session.get(OPENED_INVITATIONS_KEY, [])
                        if p != invitation.public_id]
                    messages.success(request, f"Welcome to Switchboard. You joined "
                                              f"{joined.workspace.name}.")
                    return redirect("apps", workspace_id=joined.workspace.public_id)
            messages.success(request, "Welcome to Switchboard. This is your personal workspace.")
            return redirect(next_url or "home")
    return render(request, "registration/signup.html", {
        "form": form, "next": next_url, "invitation": invitation})


@login_required
def workspace_list(request: HttpRequest) -> HttpResponse:
    form = WorkspaceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            ws = services.create_workspace(actor=request.user, name=form.cleaned_data["name"])
        except services.ServiceError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Workspace “{ws.name}” created.")
            return redirect("apps", workspace_id=ws.public_id)
    memberships = (Membership.objects.filter(user=request.user)
                   .select_related("workspace", "workspace__credits")
                   .order_by("workspace__kind", "workspace__name"))
    return render(request, "workspaces/workspace_list.html",
                  {"memberships": memberships, "form": form})


@login_required
def workspace_home(request: HttpRequest, workspace_id: str) -> HttpResponse:
    get_workspace_for(request.user, workspace_id)
    return redirect("apps", workspace_id=workspace_id)


@login_required
def workspace_settings(request: HttpRequest, workspace_id: str) -> HttpResponse:
    m = get_workspace_for(request.user, workspace_id)
    ws = m.workspace
    form = WorkspaceForm(request.POST if request.POST.get("action") == "rename" else None,
                         initial={"name": ws.name})
    plan_form = PlanForm(request.POST if request.POST.get("action") == "plan" else None,
                         initial={"plan": ws.plan})
    downgrade = None
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "rename":
            require_role(m, "manage_workspace")
            if form.is_valid():
                services.update_workspace(ws, actor=request.user, name=form.cleaned_data["name"])
                messages.success(request, "Workspace renamed.")
                return redirect("workspace-settings", workspace_id=workspace_id)
        elif action == "plan":
            require_role(m, "change_plan")
            new_plan = plan_form.cleaned_data.get("plan") if plan_form.is_valid() else None
            lost = (plan_impact.describe(ws, new_plan) if new_plan
                    and plan_impact.is_downgrade(ws, new_plan) else [])
            if lost and request.POST.get("confirm") != "yes":
                # a downgrade says what stops working and asks once more (no JavaScript needed)
                downgrade = {"plan": new_plan, "label": dict(Plan.choices)[new_plan],
                             "lines": lost}
            elif new_plan:
                change = services.change_plan(ws, actor=request.user, plan=new_plan)
                granted = (f" {change.credits_granted} credits granted now (the difference to "
                           f"its monthly credits)." if change.credits_granted else "")
                messages.success(request, f"Plan changed to {ws.get_plan_display()}.{granted}")
                return redirect("workspace-settings", workspace_id=workspace_id)
    return render(request, "workspaces/settings.html", {
        "workspace": ws, "membership": m, "form": form, "plan_form": plan_form,
        "plans": [(key, label, PLANS[key]) for key, label in plan_form.fields["plan"].choices],
        "can_manage": m.has_role("admin"), "is_owner": m.has_role("owner"),
        "downgrade": downgrade,
    })


# --- members ----------------------------------------------------------------------------------


@login_required
def members(request: HttpRequest, workspace_id: str) -> HttpResponse:
    m = get_workspace_for(request.user, workspace_id)
    ws = m.workspace
    form = InviteForm(request.POST or None)
    if request.method == "POST":
        require_role(m, "manage_members")
        if form.is_valid():
            try:
                inv = services.invite(ws, actor=request.user, email=form.cleaned_data["email"],
                                      role=form.cleaned_data["role"],
                                      link_base=request.build_absolute_uri("/"))
            except services.ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
                # the link, for the admin to copy (chat, another mail), on the next page only:
                # it is never stored, and a later visit can't show it again
                request.session[NEW_INVITE_KEY] = {
                    "email": inv.email, "link": services.invitation_link(
                        inv, request.build_absolute_uri("/"))}
                return redirect("members", workspace_id=workspace_id)
    can_manage = m.has_role("admin")
    new_invite = request.session.pop(NEW_INVITE_KEY, None) if request.method == "GET" else None
    return render(request, "workspaces/members.html", {
        "workspace": ws, "membership": m, "form": form, "can_manage": can_manage,
        "members": ws.memberships.select_related("user").order_by("user__email"),
        "invitations": ws.invitations.filter(accepted_at=None, revoked_at=None)
        if can_manage else [],
        "role_choices": RoleForm.base_fields["role"].choices,
        "new_invite": new_invite if can_manage else None,
    })


@login_required
@require_POST
def member_role(request: HttpRequest, workspace_id: str, membership_id: int) -> HttpResponse:
    target, m = get_workspace_object(request.user, workspace_id,
                                     Membership.objects.select_related("user"),
                                     "manage_members", pk=membership_id)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            services.change_role(target, actor=request.user, role=form.cleaned_data["role"])
            messages.success(request, f"{target.user.email} is now {target.get_role_display()}.")
        except services.ServiceError as exc:
            messages.error(request, exc.message)
    else:
        messages.error(request, "Pick a valid role.")
    return redirect("members", workspace_id=workspace_id)


@login_required
@require_POST
def member_remove(request: HttpRequest, workspace_id: str, membership_id: int) -> HttpResponse:
    target, m = get_workspace_object(request.user, workspace_id,
                                     Membership.objects.select_related("user"), "view",
                                     pk=membership_id)
    leaving = target.user_id == request.user.pk
    if not leaving:
        require_role(m, "manage_members")
    try:
        services.remove_member(target, actor=request.user)
    except services.ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("members", workspace_id=workspace_id)
    if leaving:
        messages.success(request, f"You left {m.workspace.name}.")
        return redirect("workspaces")
    messages.success(request, f"{target.user.email} was removed.")
    return redirect("members", workspace_id=workspace_id)


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, workspace_id: str, invitation_id: int) -> HttpResponse:
    inv, _ = get_workspace_object(request.user, workspace_id, Invitation, "manage_members",
                                  pk=invitation_id)
    services.revoke_invitation(inv, actor=request.user)
    messages.success(request, f"Invitation for {inv.email} withdrawn.")
    return redirect("members", workspace_id=workspace_id)


OPENED_INVITATIONS_KEY = "opened_invitations"
INVITATION_PATH = re.compile(r"/invite/([0-9a-f]{24})/")
NEW_INVITE_KEY = "show_once_invite"


@sensitive_post_parameters("token")
@sensitive_variables("token")
def invitation(request: HttpRequest, public_id: str) -> HttpResponse:
    """/invite/<public id>/: the e-mail link carries the token in the URL fragment (#...), which
    never reaches a server. The page's script POSTs it (action=open); the session then
    remembers that this browser opened the invitation (its public id, not the token) and the
    visitor signs in or accepts on the token-free URL."""
    opened = request.session.get(OPENED_INVITATIONS_KEY, [])
    page = "workspaces/invitation.html"
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "open":
        token = request.POST.get("token", "").strip().lstrip("#")
        try:
            services.open_invitation(public_id, token)
        except services.ServiceError as exc:
            return render(request, page, {"error": exc.message, "ask_token": True}, status=400)
        if public_id not in opened:
            request.session[OPENED_INVITATIONS_KEY] = [*opened, public_id][-10:]
        return redirect("invitation", public_id=public_id)
    if public_id not in opened:
        if action is not None:
            return render(request, page, {"error": "Open the invitation with the link from "
                                                   "your e-mail first.", "ask_token": True},
                          status=400)
        return render(request, page, {"ask_token": True})
    try:
        inv = services.opened_invitation(public_id)
    except services.ServiceError as exc:
        return render(request, page, {"error": exc.message}, status=400)
    if not request.user.is_authenticated:
        return render(request, page, {"invitation": inv, "login_url": reverse("login"),
                                      "next": request.path,
                                      "signup_url": reverse("signup")})
    if action == "accept":
        try:
            membership = services.accept_invitation(inv, actor=request.user)
        except services.ServiceError as exc:
            return render(request, page, {"invitation": inv, "error": exc.message}, status=400)
        request.session[OPENED_INVITATIONS_KEY] = [p for p in opened if p != public_id]
        messages.success(request, f"You joined {membership.workspace.name}.")
        return redirect("apps", workspace_id=membership.workspace.public_id)
    return render(request, page, {"invitation": inv})


# --- apps -------------------------------------------------------------------------------------


@login_required
def apps(request: HttpRequest, workspace_id: str) -> HttpResponse:
    m = get_workspace_for(request.user, workspace_id)
    form = AppForm(request.POST or None)
    if request.method == "POST":
        require_role(m, "create_app")
        if form.is_valid():
            try:
                app = services.create_app(m.workspace, actor=request.user, **form.cleaned_data)
            except services.ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"App “{app.name}” created.")
                return redirect("app-detail", workspace_id=workspace_id, app_id=app.public_id)
    return render(request, "workspaces/apps.html", {
        "workspace": m.workspace, "membership": m, "form": form,
        "apps": m.workspace.apps.select_related("created_by"),
    })


@login_required
@sensitive_variables()  # a new token, shown once, stays out of error reports
def app_detail(request: HttpRequest, workspace_id: str, app_id: str) -> HttpResponse:
    app, m = get_workspace_object(request.user, workspace_id, App, public_id=app_id)
    can_manage = may_manage_app(m, app)
    is_admin = m.has_role(ROLE_FOR["set_app_credit_cap"])
    form = AppSettingsForm(request.POST if request.POST.get("action") == "update" else None,
                           initial={"name": app.name,
                                    "allow_anonymous_integration_calls":
                                        app.allow_anonymous_integration_calls,
                                    "monthly_credit_cap": app.monthly_credit_cap,
                                    "sandbox_mode": app.sandbox_mode})
    if not is_admin:
        form.lock_admin_settings()
    token_form = TokenForm(request.POST if request.POST.get("action") == "token" else None)
    new_token = request.session.pop(SHOW_ONCE_KEY, None) if request.method == "GET" else None
    if request.method == "POST":
        can_manage_app(m, app)
        action = request.POST.get("action")
        if action == "update" and form.is_valid():
            try:
                services.update_app(app, actor=request.user, **form.cleaned_data)
            except services.ServiceError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, "App saved.")
                return redirect("app-detail", workspace_id=workspace_id, app_id=app_id)
        elif action == "token" and token_form.is_valid():
            _, raw = services.create_service_token(
                app, actor=request.user, name=token_form.cleaned_data["name"])
            return _redirect_showing_once(request, raw, "app-detail", workspace_id=workspace_id,
                                          app_id=app_id)
        elif action == "revoke-token":
            row = _posted_token(request, AppServiceToken, app=app)
            services.revoke_service_token(row, actor=request.user)
            messages.success(request, f"Token “{row.name}” revoked. Calls using it now fail.")
            return redirect("app-detail", workspace_id=workspace_id, app_id=app_id)
        elif action == "delete":
            services.delete_app(app, actor=request.user)
            messages.success(request, f"App “{app.name}” deleted.")
            return redirect("apps", workspace_id=workspace_id)
    return render(request, "workspaces/app_detail.html", {
        "workspace": m.workspace, "membership": m, "app": app, "form": form,
        "token_form": token_form, "new_token": new_token, "can_manage": can_manage,
        "tokens": app.service_tokens.all() if can_manage else [],
        "api_base": request.build_absolute_uri("/").rstrip("/"),
        "usage": app_caps.usage_summary(app), "is_admin": is_admin,
    })


# The Credits page is integrations.credits_views (it reads the call log).


# --- personal access tokens -------------------------------------------------------------------


@login_required
@sensitive_variables()  # a new token, shown once, stays out of error reports
def personal_tokens(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST if request.POST.get("action") == "create" else None)
    new_token = request.session.pop(SHOW_ONCE_KEY, None) if request.method == "GET" else None
    if request.method == "POST":
        if request.POST.get("action") == "create" and form.is_valid():
            try:
                _, raw = services.create_personal_token(actor=request.user,
                                                        name=form.cleaned_data["name"])
            except services.ServiceError as exc:
                add_service_error(form, exc)
            else:
                return _redirect_showing_once(request, raw, "personal-tokens")
        elif request.POST.get("action") == "revoke":
            row = _posted_token(request, PersonalAccessToken, user=request.user)
            services.revoke_personal_token(row, actor=request.user)
            messages.success(request, f"Token “{row.name}” revoked.")
            return redirect("personal-tokens")
    return render(request, "workspaces/personal_tokens.html", {
        "form": form, "new_token": new_token,
        "tokens": PersonalAccessToken.objects.filter(user=request.user),
    })
