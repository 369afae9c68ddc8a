"""Dashboard pages: Secrets (workspace tab + one tab per app) and Custom APIs. Thin: rules live
in services.py, access in workspaces.access. No page ever renders a value."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from workspaces.access import get_workspace_for, get_workspace_object, require_role
from workspaces.forms import add_service_error
from workspaces.models import App, Membership

from . import services
from .forms import CustomApiCreateForm, CustomApiEditForm, SecretCreateForm, SecretReplaceForm
from .models import CustomApi, Secret

SENSITIVE = ("value", "credential", "username")


def _scope(request: HttpRequest, workspace_id: str,
           app_id: str | None) -> tuple[Membership, App | None]:
    """The membership (404 for outsiders) and the app of the tab (404 if not in the
    workspace)."""
    if app_id is None:
        return get_workspace_for(request.user, workspace_id), None
    app, m = get_workspace_object(request.user, workspace_id, App, public_id=app_id)
    return m, app


def _list_url(workspace_id: str, app: App | None) -> str:
    if app is None:
        return reverse("secrets", args=[workspace_id])
    return reverse("app-secrets", args=[workspace_id, app.public_id])


def _detail_url(workspace_id: str, app: App | None, name: str) -> str:
    if app is None:
        return reverse("secret-detail", args=[workspace_id, name])
    return reverse("app-secret-detail", args=[workspace_id, app.public_id, name])


def _secret_or_404(m: Membership, app: App | None, name: str) -> Secret:
    secret = services.get_user_secret(m.workspace, name, app=app)
    if secret is None:
        raise Http404("No such secret.")
    return secret


# --- secrets ----------------------------------------------------------------------------------


@sensitive_post_parameters(*SENSITIVE)
@login_required
@sensitive_variables()
def secrets_page(request: HttpRequest, workspace_id: str, app_id: str | None = None
                 ) -> HttpResponse:
    m, app = _scope(request, workspace_id, app_id)
    form = SecretCreateForm(request.POST or None)
    if request.method == "POST":
        require_role(m, "manage_secrets")
        if form.is_valid():
            try:
                secret = services.create_secret(
                    m.workspace, form.cleaned_data["name"], form.cleaned_data["value"],
                    app=app, actor=request.user,
                    description=form.cleaned_data["description"])
            except services.VaultError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Secret {secret.name} saved.")
                return redirect(_list_url(workspace_id, app))
    secrets = list(services.list_secrets(m.workspace, app))
    context: dict[str, Any] = {
        "workspace": m.workspace, "membership": m, "app": app, "form": form,
        "apps": list(m.workspace.apps.only("public_id", "name", "workspace_id")),
        "secrets": secrets, "can_manage": m.has_role("admin"),
    }
    if app is not None:
        own = {s.name for s in secrets}
        context["inherited"] = [
            (s, s.name in own) for s in services.list_secrets(m.workspace, None)]
        context["custom_apis"] = sorted(services.effective_custom_apis(m.workspace, app).values(),
                                        key=lambda a: a.env_var)
        context["workspace_access"] = services.workspace_access(app)
    else:
        context["granted_apps"] = services.apps_with_workspace_access(m.workspace)
    return render(request, "secrets_vault/secrets.html", context)


@sensitive_post_parameters(*SENSITIVE)
@login_required
@sensitive_variables()
def secret_detail(request: HttpRequest, workspace_id: str, name: str,
                  app_id: str | None = None) -> HttpResponse:
    m, app = _scope(request, workspace_id, app_id)
    secret = _secret_or_404(m, app, name)
    form = SecretReplaceForm(request.POST or None, initial={"description": secret.description})
    if request.method == "POST":
        require_role(m, "manage_secrets")
        if form.is_valid():
            try:
                secret = services.set_secret(m.workspace, secret.name, form.cleaned_data["value"],
                                             app=app, actor=request.user,
                                             description=form.cleaned_data["description"])
            except services.VaultError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"{secret.name} replaced (version {secret.version}).")
                return redirect(_detail_url(workspace_id, app, secret.name))
    return render(request, "secrets_vault/secret_detail.html", {
        "workspace": m.workspace, "membership": m, "app": app, "secret": secret, "form": form,
        "versions": secret.versions.all(),
        "can_manage": m.has_role("admin"),
        "list_url": _list_url(workspace_id, app),
        "overrides": app is not None and services.get_secret(m.workspace, name) is not None,
        "overriding_apps": [] if app is not None else list(
            Secret.objects.filter(workspace=m.workspace, name=name, app__isnull=False)
            .values_list("app__name", flat=True)),
    })


@login_required
def secret_delete(request: HttpRequest, workspace_id: str, name: str,
                  app_id: str | None = None) -> HttpResponse:
    m, app = _scope(request, workspace_id, app_id)
    secret = _secret_or_404(m, app, name)
    require_role(m, "manage_secrets")
    if request.method == "POST":
        services.delete_secret(secret, actor=request.user)
        messages.success(request, f"Secret {secret.name} deleted.")
        return redirect(_list_url(workspace_id, app))
    return render(request, "secrets_vault/confirm_delete.html", {
        "workspace": m.workspace, "membership": m, "app": app,
        "title": f"Delete {secret.name}?",
        "object_label": f"the secret {secret.name}",
        "warning": (f"Backend code of {'the app “' + app.name + '”' if app else 'every app'} "
                    f"that reads {secret.name} stops getting "
                    + ("its value (the workspace secret of that name applies again, if any)."
                       if app else "it, unless an app has its own secret of that name.")),
        "cancel_url": _detail_url(workspace_id, app, secret.name),
        "button": "Delete secret",
    })


# --- which apps receive workspace secrets --------------------------------------------------


@login_required
@require_POST
def app_secret_access(request: HttpRequest, workspace_id: str, app_id: str) -> HttpResponse:
    """Grant or revoke an app's access to workspace secrets and organization Custom APIs
    (admins and owners; outsiders 404, members 403). Back to the app's page, or to its Secrets
    tab with `return_to=secrets`."""
    app, m = get_workspace_object(request.user, workspace_id, App, "manage_secrets",
                                  public_id=app_id)
    action = request.POST.get("action")
    if action == "grant":
        services.grant_workspace_access(app, actor=request.user)
        messages.success(request, f"“{app.name}” now receives the workspace's secrets and "
                                  "organization Custom APIs, from its next call.")
    elif action == "revoke":
        services.revoke_workspace_access(app, actor=request.user)
        messages.success(request, f"“{app.name}” no longer receives the workspace's secrets or "
                                  "organization Custom APIs, from its next call.")
    else:
        messages.error(request, "Choose Grant or Revoke.")
    if request.POST.get("return_to") == "secrets":
        return redirect(_list_url(workspace_id, app))
    return redirect("app-detail", workspace_id=workspace_id, app_id=app.public_id)


# --- Custom APIs ------------------------------------------------------------------------------


@sensitive_post_parameters(*SENSITIVE)
@login_required
@sensitive_variables()
def custom_apis(request: HttpRequest, workspace_id: str) -> HttpResponse:
    m = get_workspace_for(request.user, workspace_id)
    apps = list(m.workspace.apps.only("public_id", "name", "workspace_id"))
    form = CustomApiCreateForm(request.POST or None, apps=apps)
    if request.method == "POST":
        require_role(m, "manage_custom_apis")
        if form.is_valid():
            data = form.cleaned_data
            try:
                api = services.create_custom_api(
                    m.workspace, actor=request.user, name=data["name"],
                    auth_type=data["auth_type"], credential=data["credential"],
                    username=data["username"], domain=data["domain"],
                    docs_url=data["docs_url"], app=form.scope_app())
            except services.VaultError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, f"Custom API “{api.name}” added. Backend code reads it "
                                          f"as {api.env_var}.")
                return redirect("custom-apis", workspace_id=workspace_id)
    return render(request, "secrets_vault/custom_apis.html", {
        "workspace": m.workspace, "membership": m, "form": form,
        "custom_apis": services.list_custom_apis(m.workspace),
        "can_manage": m.has_role("admin"),
    })


def _custom_api(request: HttpRequest, workspace_id: str,
                custom_api_id: str) -> tuple[CustomApi, Membership]:
    return get_workspace_object(request.user, workspace_id,
                                CustomApi.objects.select_related("app"), "manage_custom_apis",
                                public_id=custom_api_id)


@login_required
def custom_api_edit(request: HttpRequest, workspace_id: str, custom_api_id: str) -> HttpResponse:
    api, m = _custom_api(request, workspace_id, custom_api_id)
    apps = list(m.workspace.apps.only("public_id", "name", "workspace_id"))
    form = CustomApiEditForm(request.POST or None, apps=apps, initial={
        "name": api.name, "domain": api.domain, "docs_url": api.docs_url,
        "scope": api.app.public_id if api.app_id else "organization"})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            api = services.update_custom_api(api, actor=request.user, name=data["name"],
                                             domain=data["domain"], docs_url=data["docs_url"],
                                             app=form.scope_app())
        except services.VaultError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Custom API “{api.name}” saved.")
            return redirect("custom-apis", workspace_id=workspace_id)
    return render(request, "secrets_vault/custom_api_edit.html", {
        "workspace": m.workspace, "membership": m, "api": api, "form": form,
    })


@login_required
def custom_api_delete(request: HttpRequest, workspace_id: str,
                      custom_api_id: str) -> HttpResponse:
    api, m = _custom_api(request, workspace_id, custom_api_id)
    if request.method == "POST":
        services.delete_custom_api(api, actor=request.user)
        messages.success(request, f"Custom API “{api.name}” deleted.")
        return redirect("custom-apis", workspace_id=workspace_id)
    where = f"the app “{api.app.name}”" if api.app_id else "every app in this workspace"
    return render(request, "secrets_vault/confirm_delete.html", {
        "workspace": m.workspace, "membership": m,
        "title": f"Delete the Custom API “{api.name}”?",
        "object_label": f"the Custom API “{api.name}”",
        "warning": (f"Backend code of {where} that uses {api.env_var} or "
                    f"{api.auth_header_var} loses access to these credentials at once. The "
                    "credentials can't be recovered; to keep the variable, recreate the Custom "
                    "API with the same name."),
        "cancel_url": reverse("custom-apis", args=[workspace_id]),
        "button": "Delete Custom API",
    })
