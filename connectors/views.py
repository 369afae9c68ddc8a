"""Dashboard pages of connectors and the OAuth callback. Thin: rules live in services."""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET

from workspaces.access import can_manage_app, get_workspace_for, get_workspace_object, require_role
from workspaces.forms import add_service_error
from workspaces.models import App, Membership
from workspaces.plans import ROLE_FOR

from . import guidance, providers, services
from .forms import ConnectorForm, PlatformConnectForm, RotateSecretForm, provider_choices
from .models import Connection, WorkspaceConnector


def callback_url(request: Any) -> str:
    """The redirect URI registered with providers (CONNECTOR_CALLBACK_URL, else SITE_URL's,
    else this request's host): the one the pages tell admins to register."""
    return guidance.callback_url(request)


def launch_url(request: Any, launch_token: str) -> str:
    """The one-time link ``connectAppUser`` returns: on the callback's host, so the cookie it
    sets is sent to the callback."""
    return urljoin(callback_url(request), reverse("connectors-oauth-launch", args=[launch_token]))


def browser_cookie_name(state_id: int) -> str:
    """One cookie per attempt, so connecting two things in two tabs works."""
    return f"sb_oauth_{state_id}"


def _bind_browser(request: HttpRequest, response: HttpResponse,
                  auth: services.Authorization) -> HttpResponse:
    """RFC 6749 §10.12: the browser sent to the provider carries a nonce only the callback
    reads (HttpOnly, SameSite=Lax so the provider's redirect back brings it, Secure over HTTPS
    and in production)."""
    response.set_cookie(browser_cookie_name(auth.state_id), auth.browser_nonce,
                        max_age=int(services.state_ttl().total_seconds()),
                        path=reverse("connectors-oauth-callback"), httponly=True,
                        secure=bool(settings.SESSION_COOKIE_SECURE or request.is_secure()),
                        samesite="Lax")
    response["Referrer-Policy"] = "no-referrer"
    return response


@never_cache
@require_GET
def oauth_launch(request: HttpRequest, launch_token: str) -> HttpResponse:
    """The link ``connectAppUser`` returns: the first browser to open it is sent on to the
    provider with the state bound to it; any later opening is refused."""
    try:
        auth = services.open_app_user_connect(launch_token)
    except services.ConnectorError as exc:
        response = render(request, "connectors/callback.html",
                          {"ok": False, "error": exc.message}, status=400)
        response["Referrer-Policy"] = "no-referrer"
        return response
    return _bind_browser(request, redirect(auth.url), auth)


@never_cache
def oauth_callback(request: HttpRequest) -> HttpResponse:
    response = _oauth_callback(request)
    response["Referrer-Policy"] = "no-referrer"  # the code is in this page's URL
    return response


def _oauth_callback(request: HttpRequest) -> HttpResponse:
    raw_state = request.GET.get("state", "")
    row = services.pending_state(raw_state)
    dashboard = row is not None and row.kind != Connection.Kind.APP_USER
    if dashboard and not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    cookie = browser_cookie_name(row.pk) if row is not None else ""
    try:
        conn = services.complete_authorization(raw_state, code=request.GET.get("code", ""),
                                               error=request.GET.get("error", ""),
                                               user=request.user,
                                               browser_nonce=request.COOKIES.get(cookie, ""))
    except services.ConnectorError as exc:
        if dashboard and row is not None and row.user_id == request.user.pk:
            # back to the page the user started from; anyone else (who may not even be a
            # member of that workspace) gets the plain failure page, never a link into it
            messages.error(request, exc.message)
            return redirect("app-connectors", workspace_id=row.app.workspace.public_id,
                            app_id=row.app.public_id)
        return render(request, "connectors/callback.html", {"ok": False, "error": exc.message},
                      status=400)
    if conn.kind == Connection.Kind.APP_USER:
        done = render(request, "connectors/callback.html", {"ok": True, "connection": conn})
    else:
        messages.success(request, f"Connected {conn.label}.")
        done = redirect("app-connectors", workspace_id=conn.app.workspace.public_id,
                        app_id=conn.app.public_id)
    done.delete_cookie(cookie, path=reverse("connectors-oauth-callback"), samesite="Lax")
    return done


@login_required
def app_connectors(request: HttpRequest, workspace_id: str, app_id: str) -> HttpResponse:
    app, membership = get_workspace_object(request.user, workspace_id,
                                           App.objects.select_related("workspace"),
                                           public_id=app_id)
    if request.method == "POST":
        can_manage_app(membership, app)
        return _app_connectors_post(request, app, membership)
    return _app_connectors_page(request, app, membership)


def _app_connectors_page(request: HttpRequest, app: App, membership: Membership, *,
                         bound: PlatformConnectForm | None = None) -> HttpResponse:
    """The page; ``bound`` is a refused connect form, shown again with what was typed."""
    workspace = membership.workspace
    try:
        can_manage_app(membership, app)
        can_manage = True
    except PermissionDenied:
        can_manage = False
    conns = list(Connection.objects.filter(app=app).exclude(kind=Connection.Kind.APP_USER)
                 .select_related("connector"))
    platform = {c.integration_type: c for c in conns if c.kind == Connection.Kind.PLATFORM}
    shared = {c.connector_id: c for c in conns if c.kind == Connection.Kind.WORKSPACE}
    rows = []
    for p in sorted(providers.all_providers().values(), key=lambda p: p.name.lower()):
        form = (bound if bound is not None and bound.prefix == p.type
                else PlatformConnectForm(provider=p, prefix=p.type))
        rows.append({"provider": p, "connection": platform.get(p.type), "form": form})
    connectors = list(WorkspaceConnector.objects.filter(workspace=workspace)
                      .annotate(app_user_count=Count(
                          "connections", filter=_app_user_filter(app))))
    registered = [{"connector": c, "connection": shared.get(c.pk)} for c in connectors]
    return render(request, "connectors/app_connectors.html", {
        "workspace": workspace, "app": app, "rows": rows, "registered": registered,
        "can_manage": can_manage,
        # how to configure a provider: for those who see the connect controls (today's rule
        # for the "not configured" note); registering an own OAuth app is for connector admins
        "setups": guidance.unconfigured_setups() if can_manage else [],
        "callback_url": callback_url(request) if can_manage else "",
        "can_register": _can_manage_connectors(membership),
        "needs_reconnect": [c for c in conns if c.status == Connection.Status.NEEDS_RECONNECT],
    })


def _app_user_filter(app: App) -> Any:
    return Q(connections__kind=Connection.Kind.APP_USER, connections__app=app)


def _app_connectors_post(request: HttpRequest, app: App,
                         membership: Membership) -> HttpResponse:
    action = request.POST.get("action")
    back = redirect("app-connectors", workspace_id=app.workspace.public_id,
                    app_id=app.public_id)
    try:
        if action == "connect":
            provider = providers.get(request.POST.get("integration_type", ""))
            if provider is None:
                messages.error(request, "Unknown connector.")
                return back
            form = PlatformConnectForm(request.POST, provider=provider, prefix=provider.type)
            if not form.is_valid():
                messages.error(request, "Check the connection settings: "
                               + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
                return _app_connectors_page(request, app, membership, bound=form)
            auth = services.start_platform_connect(app, provider.type, actor=request.user,
                                                   redirect_uri=callback_url(request),
                                                   connection_config=form.cleaned_data)
            return _bind_browser(request, redirect(auth.url), auth)
        if action == "connect-workspace":
            connector = WorkspaceConnector.objects.filter(
                workspace=app.workspace, public_id=request.POST.get("connector_id", "")).first()
            if connector is None:
                messages.error(request, "Unknown connector.")
                return back
            auth = services.start_workspace_connect(app, connector, actor=request.user,
                                                    redirect_uri=callback_url(request))
            return _bind_browser(request, redirect(auth.url), auth)
        if action == "disconnect":
            conn = (Connection.objects.select_related("app", "app__workspace", "connector")
                    .filter(app=app, pk=request.POST.get("connection_id") or 0)
                    .exclude(kind=Connection.Kind.APP_USER).first())
            if conn is None:
                messages.error(request, "That connection no longer exists.")
                return back
            revoked = services.disconnect(conn, actor=request.user)
            messages.success(request, f"Disconnected {conn.label}"
                             + (" and revoked its tokens at the provider." if revoked else "."))
            return back
        if action == "revoke-app-users":
            connector = WorkspaceConnector.objects.filter(
                workspace=app.workspace, public_id=request.POST.get("connector_id", "")).first()
            if connector is None:
                messages.error(request, "Unknown connector.")
                return back
            count = services.revoke_app_user_connections(connector, actor=request.user, app=app)
            messages.success(request, f"Revoked {count} app-user connection(s).")
            return back
    except services.ConnectorError as exc:
        messages.error(request, exc.message)
        return back
    messages.error(request, "Unknown action.")
    return back


@sensitive_post_parameters("client_secret")
@login_required
def workspace_connectors(request: HttpRequest, workspace_id: str) -> HttpResponse:
    membership = get_workspace_for(request.user, workspace_id)
    workspace = membership.workspace
    if request.method == "POST":
        form = ConnectorForm(request.POST)
    else:  # ?provider_type=github: the form starts from that provider's defaults
        form = ConnectorForm(initial=guidance.prefill(request.GET.get("provider_type", "")))
    if request.method == "POST":
        require_role(membership, "manage_connectors")
        if form.is_valid():
            data = form.cleaned_data
            try:
                connector = services.create_connector(
                    workspace, actor=request.user, name=data["name"],
                    client_id=data["client_id"], client_secret=data.get("client_secret", ""),
                    provider_type=data["provider_type"] or "",
                    authorize_url=data["authorize_url"], token_url=data["token_url"],
                    revocation_url=data["revocation_url"], scopes=data["scopes"],
                    pkce=data["pkce"], token_auth=data["token_auth"])
            except services.ConnectorError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Connector “{connector.name}” registered. Its id is "
                                          f"{connector.public_id}.")
                return redirect("connector-detail", workspace_id=workspace_id,
                                connector_id=connector.public_id)
    connectors = (WorkspaceConnector.objects.filter(workspace=workspace)
                  .annotate(app_user_count=Count("connections", filter=_kind("app_user")),
                            shared_count=Count("connections", filter=_kind("workspace"))))
    can_manage = _can_manage_connectors(membership)
    return render(request, "connectors/workspace_connectors.html", {
        "workspace": workspace, "connectors": connectors, "form": form,
        "can_manage": can_manage, "callback_url": callback_url(request) if can_manage else "",
        "provider_choices": provider_choices(),
        "prefill_type": request.GET.get("provider_type", "") if can_manage else ""})


def _can_manage_connectors(membership: Membership) -> bool:
    """Whether to show the admin forms: the same rule ``require_role`` enforces on POST."""
    return membership.has_role(ROLE_FOR["manage_connectors"])


def _kind(kind: str) -> Any:
    return Q(connections__kind=kind)


@sensitive_post_parameters("client_secret")
@login_required
def connector_detail(request: HttpRequest, workspace_id: str, connector_id: str) -> HttpResponse:
    connector, membership = get_workspace_object(request.user, workspace_id, WorkspaceConnector,
                                                 public_id=connector_id)
    workspace = membership.workspace
    form = ConnectorForm(instance=connector, editing=True)
    rotate_form = RotateSecretForm()
    if request.method == "POST":
        require_role(membership, "manage_connectors")
        action = request.POST.get("action")
        here = redirect("connector-detail", workspace_id=workspace_id, connector_id=connector_id)
        try:
            if action == "update":
                form = ConnectorForm(request.POST, instance=WorkspaceConnector.objects.get(
                    pk=connector.pk), editing=True)
                if form.is_valid():
                    data = dict(form.cleaned_data)
                    data["provider_type"] = data["provider_type"] or ""
                    try:
                        services.update_connector(connector, actor=request.user, **data)
                    except services.ConnectorError as exc:
                        add_service_error(form, exc)  # re-shown with what was typed
                        if exc.code == "client_secret_required":
                            form.add_error("client_secret", "Enter the client secret again to "
                                                            "use it with the new server.")
                    else:
                        messages.success(request, "Connector saved.")
                        return here
            elif action == "rotate":
                rotate_form = RotateSecretForm(request.POST)
                if rotate_form.is_valid():
                    services.rotate_client_secret(
                        connector, actor=request.user,
                        client_secret=rotate_form.cleaned_data["client_secret"])
                    messages.success(request, "Client secret replaced.")
                    return here
            elif action == "revoke-app-users":
                app = App.objects.filter(workspace=workspace,
                                         public_id=request.POST.get("app_id", "")).first()
                if app is None:  # never "every app": the form always names one
                    messages.error(request, "That app no longer exists.")
                    return here
                count = services.revoke_app_user_connections(connector, actor=request.user,
                                                             app=app)
                messages.success(request, f"Revoked {count} app-user connection(s).")
                return here
            elif action == "delete":
                name = connector.name
                services.delete_connector(connector, actor=request.user)
                messages.success(request, f"Connector “{name}” deleted.")
                return redirect("connectors", workspace_id=workspace_id)
        except services.ConnectorError as exc:
            messages.error(request, exc.message)
            return here
    can_manage = _can_manage_connectors(membership)
    return render(request, "connectors/connector_detail.html", {
        "workspace": workspace, "connector": connector, "form": form,
        "callback_url": callback_url(request) if can_manage else "",
        "rotate_form": rotate_form, "usage": services.connector_usage(connector),
        "can_manage": can_manage})
