"""Dashboard views of the catalog: thin; rules live in services.py, access in workspaces.access."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from workspaces.access import can_manage_app, get_workspace_for, get_workspace_object
from workspaces.models import App, Membership
from workspaces.plans import ROLE_FOR, PlanRequired
from workspaces.services import ServiceError

from . import prompt_checks, services, starter, vault
from .access import get_own_integration
from .forms import (
    CatalogFilterForm,
    InstallAppForm,
    InstallSecretsForm,
    IntegrationForm,
    ReviewFilterForm,
    ReviewForm,
    SecretFormSet,
)
from .models import (
    CatalogIntegration,
    Installation,
    IntegrationRevision,
    Notification,
    ReviewState,
)
from .rendering import content_diff


def _link_base(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _may_manage_app(membership: Membership, app: App) -> bool:
    try:
        can_manage_app(membership, app)
    except PermissionDenied:
        return False
    return True


def _integration_for(request: HttpRequest, workspace_id: str,
                     integration_id: str) -> tuple[CatalogIntegration, Membership]:
    """An integration the workspace may see: its own (any state) or a live public one; else
    404, so nobody learns about another workspace's private integrations."""
    m = get_workspace_for(request.user, workspace_id)
    integration = services.usable_by(m.workspace).select_related(
        "created_by", "pending_revision").filter(public_id=integration_id).first()
    if integration is None:
        raise Http404("No such integration.")
    return integration, m


def _filter(qs: Any, form: CatalogFilterForm, prefix: str = "") -> Any:
    if form.is_valid():
        qs = services.search_catalog(qs, q=form.cleaned_data.get("q", ""),
                                     category=form.cleaned_data.get("category", ""),
                                     prefix=prefix)
    return qs


# --- browsing -----------------------------------------------------------------------------


@login_required
def catalog(request: HttpRequest, workspace_id: str) -> HttpResponse:
    m = get_workspace_for(request.user, workspace_id)
    tab = request.GET.get("tab", "public")
    form = CatalogFilterForm(request.GET or None)
    # "installed in N apps" counts this workspace's apps only, in the same query (no N+1)
    installed = Count("installations", filter=Q(installations__app__workspace=m.workspace),
                      distinct=True)
    if tab == "private":
        qs = _filter(services.private_catalog(m.workspace), form).annotate(installed=installed)
        rows = [{"integration": i, "content": i} for i in qs]
    else:
        tab = "public"
        qs = _filter(services.public_catalog(), form, prefix="live_revision__").order_by(
            "live_revision__name").annotate(installed=installed)
        rows = [{"integration": i, "content": i.live_revision} for i in qs]
    filtered = form.is_valid() and any(form.cleaned_data.get(k) for k in ("q", "category"))
    return render(request, "catalog/catalog.html", {
        "workspace": m.workspace, "membership": m, "tab": tab, "rows": rows,
        "filter_form": form, "filtered": filtered,
    })


@login_required
def my_integrations(request: HttpRequest, workspace_id: str) -> HttpResponse:
    m = get_workspace_for(request.user, workspace_id)
    mine = (CatalogIntegration.objects
            .filter(created_by=request.user, workspace__memberships__user=request.user)
            .select_related("workspace", "live_revision", "pending_revision")
            .order_by("workspace__name", "name"))
    return render(request, "catalog/mine.html", {
        "workspace": m.workspace, "membership": m, "tab": "mine", "integrations": mine,
    })


# --- creating and editing -----------------------------------------------------------------


def _editor(request: HttpRequest, m: Membership,
            integration: CatalogIntegration | None) -> HttpResponse:
    ws = m.workspace
    if request.method == "POST":
        form = IntegrationForm(request.POST)
        secrets = SecretFormSet(request.POST, prefix="secrets")
        if form.is_valid() and secrets.is_valid():
            data = {**form.cleaned_data, "required_secrets": secrets.secrets()}
            try:
                if integration is None:
                    integration = services.create_integration(ws, actor=request.user, data=data)
                    messages.success(request, f"“{integration.name}” saved to your workspace's "
                                              "private catalog.")
                else:
                    changed = services.update_integration(integration, actor=request.user,
                                                          data=data)
                    messages.success(request, "Integration saved." if changed else
                                     "Nothing changed.")
            except PlanRequired as exc:
                form.add_error(None, exc.message)
            except ServiceError as exc:
                form.add_error("slug" if exc.code == "duplicate" else None, exc.message)
            else:
                if request.POST.get("action") == "submit":
                    _submit(request, integration)
                return redirect("catalog-detail", workspace_id=ws.public_id,
                                integration_id=integration.public_id)
    else:
        if integration is not None:
            initial = IntegrationForm.initial_for(integration)
            secrets_initial = integration.required_secrets
        elif request.GET.get("example") == "openai":
            initial = {**starter.OPENAI_EXAMPLE,
                       "doc_links": "\n".join(starter.OPENAI_EXAMPLE["doc_links"])}
            secrets_initial = starter.OPENAI_EXAMPLE["required_secrets"]
        else:
            initial = {"prompt": starter.OUTLINE, "backend_function": True}
            secrets_initial = []
        form = IntegrationForm(initial=initial)
        secrets = SecretFormSet(initial=secrets_initial, prefix="secrets")
    result = None
    if integration is not None and request.method == "GET":
        result = services.check(integration)
    try:
        services.require_catalog_plan(ws)
        plan_problem = ""
    except PlanRequired as exc:
        plan_problem = exc.message
    return render(request, "catalog/edit.html", {
        "workspace": ws, "membership": m, "form": form, "secrets": secrets,
        "plan_problem": plan_problem,
        "integration": integration, "checks": result,
        "check_url": reverse("catalog-check"),
    })


def _submit(request: HttpRequest, integration: CatalogIntegration) -> bool:
    try:
        services.submit_for_review(integration, actor=request.user,
                                   link_base=_link_base(request))
    except services.ChecksFailed as exc:
        messages.error(request, "Not submitted: fix the prompt check errors first.")
        for finding in exc.result.errors:
            messages.error(request, finding.message)
        return False
    except ServiceError as exc:
        messages.error(request, f"Not submitted: {exc.message}")
        return False
    messages.success(request, "Submitted for review. You'll be notified of the decision.")
    return True


@login_required
def integration_new(request: HttpRequest, workspace_id: str) -> HttpResponse:
    m = get_workspace_for(request.user, workspace_id)
    return _editor(request, m, None)


@login_required
def integration_edit(request: HttpRequest, workspace_id: str, integration_id: str) -> HttpResponse:
    integration, m = get_own_integration(request.user, workspace_id, integration_id, edit=True)
    if integration.state == ReviewState.SUBMITTED:
        messages.warning(request, "This integration is in review. Withdraw it from review to edit "
                                  "it.")
        return redirect("catalog-detail", workspace_id=workspace_id,
                        integration_id=integration_id)
    return _editor(request, m, integration)


@login_required
@require_POST
def integration_submit(request: HttpRequest, workspace_id: str,
                       integration_id: str) -> HttpResponse:
    integration, _ = get_own_integration(request.user, workspace_id, integration_id, edit=True)
    _submit(request, integration)
    return redirect("catalog-detail", workspace_id=workspace_id, integration_id=integration_id)


@login_required
@require_POST
def integration_withdraw(request: HttpRequest, workspace_id: str,
                         integration_id: str) -> HttpResponse:
    integration, _ = get_own_integration(request.user, workspace_id, integration_id, edit=True)
    try:
        services.withdraw_submission(integration, actor=request.user)
        messages.success(request, "Withdrawn from review. You can edit it now.")
    except ServiceError as exc:
        messages.error(request, exc.message)
    return redirect("catalog-detail", workspace_id=workspace_id, integration_id=integration_id)


@login_required
@require_POST
def integration_delete(request: HttpRequest, workspace_id: str,
                       integration_id: str) -> HttpResponse:
    integration, _ = get_own_integration(request.user, workspace_id, integration_id, edit=True)
    try:
        services.delete_integration(integration, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("catalog-detail", workspace_id=workspace_id,
                        integration_id=integration_id)
    messages.success(request, f"“{integration.name}” deleted.")
    return redirect("catalog-mine", workspace_id=workspace_id)


@login_required
def integration_detail(request: HttpRequest, workspace_id: str,
                       integration_id: str) -> HttpResponse:
    integration, m = _integration_for(request, workspace_id, integration_id)
    own = integration.workspace_id == m.workspace_id
    content = integration.content_for(m.workspace)
    context: dict[str, Any] = {
        "workspace": m.workspace, "membership": m, "integration": integration,
        "content": content, "own": own, "can_edit": own and services.can_edit(m, integration),
    }
    if own:
        context["checks"] = services.check(integration)
        context["transitions"] = integration.transitions.select_related("actor", "revision")
        context["live"] = integration.live_revision
    context["installed_in"] = (Installation.objects
                               .filter(integration=integration, app__workspace=m.workspace)
                               .select_related("app"))
    return render(request, "catalog/detail.html", context)


@login_required
@require_POST
def check_prompt(request: HttpRequest) -> JsonResponse:
    """The editor's live checks: the form's fields in, findings out."""
    post = request.POST
    try:
        total = min(int(post.get("secrets-TOTAL_FORMS", "0")), 50)
    except ValueError:
        total = 0
    secrets = []
    for i in range(total):
        if post.get(f"secrets-{i}-DELETE"):
            continue
        name = post.get(f"secrets-{i}-name", "").strip()
        if name:
            secrets.append({"name": name,
                            "description": post.get(f"secrets-{i}-description", ""),
                            "how_to_get": post.get(f"secrets-{i}-how_to_get", "")})
    links = [line.strip() for line in post.get("doc_links", "").splitlines() if line.strip()]
    result = prompt_checks.run_checks(
        prompt=post.get("prompt", ""), required_secrets=secrets,
        backend_function=post.get("backend_function") in ("on", "true", "1"), doc_links=links)
    return JsonResponse(result.as_dict())


# --- using an integration in an app -------------------------------------------------------


@login_required
def integration_use(request: HttpRequest, workspace_id: str,
                    integration_id: str) -> HttpResponse:
    integration, m = _integration_for(request, workspace_id, integration_id)
    content = integration.content_for(m.workspace)
    apps = [a for a in m.workspace.apps.all() if _may_manage_app(m, a)]
    app_id = request.POST.get("app") or request.GET.get("app")
    app_form = InstallAppForm({"app": app_id} if app_id else None, apps=apps)
    app = None
    if app_id:
        app = next((a for a in apps if a.public_id == app_id), None)
        if app is None:
            if m.workspace.apps.filter(public_id=app_id).exists():
                raise PermissionDenied("Only the app's creator or a workspace admin can add "
                                       "integrations and secrets to it.")
            raise Http404("No such app.")
    secrets_form = None
    can_store = m.has_role(ROLE_FOR["manage_secrets"])
    if app is not None:
        secrets_form = InstallSecretsForm(request.POST if request.method == "POST" else None,
                                          secrets=content.required_secrets,
                                          scopes=vault.app_secret_scopes(app),
                                          allow_values=can_store)
        if request.method == "POST" and secrets_form.is_valid():
            try:
                _, missing = services.install_integration(
                    app, integration, actor=request.user, values=secrets_form.values(),
                    reuse=secrets_form.reuse())
            except PlanRequired as exc:
                secrets_form.add_error(None, exc.message)
            except ServiceError as exc:
                secrets_form.add_error(None, exc.message)
            else:
                messages.success(request, f"“{content.name}” is installed in {app.name}.")
                if missing:
                    messages.warning(request, f"Still missing: {', '.join(missing)}. The app's "
                                              "backend can't call the API until they are set.")
                return redirect("app-catalog-integrations", workspace_id=workspace_id,
                                app_id=app.public_id)
    elif request.method == "POST":
        app_form.is_valid()
    return render(request, "catalog/use.html", {
        "workspace": m.workspace, "membership": m, "integration": integration,
        "content": content, "apps": apps, "app": app, "app_form": app_form,
        "secrets_form": secrets_form, "can_store": can_store,
        "secrets_url": vault.app_secrets_url(app) if app else None,
    })


@login_required
def app_integrations(request: HttpRequest, workspace_id: str, app_id: str) -> HttpResponse:
    app, m = get_workspace_object(request.user, workspace_id, App, public_id=app_id)
    can_manage = _may_manage_app(m, app)
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied("Only the app's creator or a workspace admin can do this.")
        inst = get_object_or_404(Installation.objects.select_related("integration", "app"),
                                 app=app, public_id=request.POST.get("installation", ""))
        services.uninstall_integration(inst, actor=request.user)
        messages.success(request, f"“{inst.integration.name}” removed from {app.name}. Its "
                                  "secrets stay in the app until you delete them.")
        return redirect("app-catalog-integrations", workspace_id=workspace_id, app_id=app_id)
    return render(request, "catalog/app_integrations.html", {
        "workspace": m.workspace, "membership": m, "app": app, "can_manage": can_manage,
        "installed": services.installed_for_app(app), "secrets_url": vault.app_secrets_url(app),
    })


# --- reviewers ----------------------------------------------------------------------------


def _require_reviewer(request: HttpRequest) -> None:
    if not services.is_reviewer(request.user):
        raise PermissionDenied("The review queue is for reviewers (staff) only.")


@login_required
def review_queue(request: HttpRequest) -> HttpResponse:
    _require_reviewer(request)
    form = ReviewFilterForm(request.GET or None)
    qs = IntegrationRevision.objects.select_related(
        "integration", "integration__workspace", "submitted_by", "decided_by")
    status = kind = category = q = ""
    if form.is_valid():
        status, kind = form.cleaned_data["status"], form.cleaned_data["kind"]
        category, q = form.cleaned_data["category"], form.cleaned_data["q"].strip()
    if status == "decided":
        qs = qs.exclude(status__in=[IntegrationRevision.Status.SUBMITTED,
                                    IntegrationRevision.Status.WITHDRAWN]).order_by(
            "-decided_at")
    elif status == "all":
        qs = qs.order_by("-submitted_at")
    else:
        qs = qs.filter(status=IntegrationRevision.Status.SUBMITTED).order_by("submitted_at", "pk")
    if kind == "new":
        qs = qs.filter(based_on__isnull=True)
    elif kind == "update":
        qs = qs.filter(based_on__isnull=False)
    if category:
        qs = qs.filter(category=category)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(slug__icontains=q)
                       | Q(integration__workspace__name__icontains=q)
                       | Q(submitted_by__email__icontains=q))
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(request, "catalog/review_queue.html", {
        "page": page, "filter_form": form, "award": settings.CATALOG_FIRST_APPROVAL_CREDITS})


@login_required
def review(request: HttpRequest, revision_id: int) -> HttpResponse:
    _require_reviewer(request)
    revision = get_object_or_404(
        IntegrationRevision.objects.select_related("integration", "integration__workspace",
                                                   "submitted_by", "decided_by", "based_on"),
        pk=revision_id)
    refusal = services.review_refusal(request.user, revision)
    form = ReviewForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if refusal:
            messages.error(request, refusal)
            status = 403
        elif form.is_valid():
            try:
                services.decide(revision, actor=request.user,
                                decision=form.cleaned_data["decision"],
                                comment=form.cleaned_data["comment"],
                                link_base=_link_base(request))
            except ServiceError as exc:
                form.add_error(None, exc.message)
                status = 403 if exc.code == "forbidden" else 400
            else:
                labels = {"approve": "approved", "reject": "rejected",
                          "request_changes": "sent back with requested changes"}
                messages.success(request, f"“{revision.name}” r{revision.number} "
                                          f"{labels[form.cleaned_data['decision']]}.")
                return redirect("catalog-review-queue")
        else:
            status = 400
    diff = None
    diff_base = services.diff_base(revision)
    if diff_base is not None:
        diff = content_diff(diff_base.content(), revision.content())
    return render(request, "catalog/review.html", {
        "revision": revision, "integration": revision.integration, "form": form,
        "refusal": refusal, "diff": diff, "diff_base": diff_base,
        "checks": services.check(revision),
        "transitions": revision.integration.transitions.select_related("actor", "revision"),
        "waiting": revision.status == IntegrationRevision.Status.SUBMITTED,
    }, status=status)


# --- notifications ------------------------------------------------------------------------


@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        services.mark_read(request.user)
        messages.success(request, "All notifications marked as read.")
        return redirect("notifications")
    qs = Notification.objects.filter(recipient=request.user).select_related("integration")
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    return render(request, "catalog/notifications.html", {"page": page})


@login_required
def notification_open(request: HttpRequest, notification_id: int) -> HttpResponse:
    """POST (the list's CSRF-protected form): mark it read and go to what it is about. A GET
    changes nothing (link prefetchers, crawlers, a forged <img>): it shows the list."""
    n = get_object_or_404(Notification, pk=notification_id, recipient=request.user)
    if request.method != "POST":
        return redirect("notifications")
    services.mark_read(request.user, [n.pk])
    if n.url and url_has_allowed_host_and_scheme(n.url, allowed_hosts={request.get_host()}):
        return redirect(n.url)
    return redirect("notifications")

