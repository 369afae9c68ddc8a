"""Try it on the integration's page: the page itself (``detail_page``, with a form per exposed
operation) and Send (``try_it``).

Send is a plain POST form (the page comes back with the result, and what was typed on a
failure); try_it.js posts the same form with fetch and swaps in the operation's panel
(``X-Try-It: panel`` asks for just that fragment). The call goes through
``proxy.handle`` as the chosen app, exactly as the SDK's would: the same checks, rate limit,
bulkheads, credits (and the app's cap and sandbox mode), logged with ``caller_kind="dashboard"``
and the user's name. Members may try; outsiders get 404, visitors the sign-in page.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from workspaces.models import App, CreditEntry, Membership

from . import proxy, runtime, services, try_it, try_it_result
from .models import IntegrationHeader, SpecImport, WorkspaceIntegration
from .views import _ctx, _integration, plan_gated

SESSION_APP = "try_it:app:{}"  # the app last tried as, per workspace
PANEL_HEADER = "HTTP_X_TRY_IT"


def _apps(m: Membership) -> list[App]:
    return list(App.objects.filter(workspace=m.workspace)
                .only("public_id", "name", "sandbox_mode", "monthly_credit_cap", "workspace_id")
                .order_by("name"))


def _panel_context(request: HttpRequest, m: Membership, apps: list[App],
                   ops: list[try_it.TryOperation]) -> dict[str, Any]:
    remembered = request.session.get(SESSION_APP.format(m.workspace.public_id), "")
    known = {a.public_id for a in apps}
    default_app = remembered if remembered in known else (apps[0].public_id if apps else "")
    for op in ops:
        if op.app_id not in known:
            op.app_id = default_app
    return {"try_apps": apps, "calls_url": reverse("calls", args=[m.workspace.public_id]),
            "apps_url": reverse("apps", args=[m.workspace.public_id]),
            "credits_url": reverse("workspace-credits", args=[m.workspace.public_id])}


def detail_page(request: HttpRequest, integration: WorkspaceIntegration, m: Membership, *,
                tried: try_it.TryOperation | None = None, status: int = 200) -> HttpResponse:
    """The integration's page; ``tried`` is the operation just sent (its form open, with what
    was typed and the result)."""
    spec = SpecImport.objects.defer("raw_text").get(pk=integration.spec_id)
    headers = list(IntegrationHeader.objects.filter(integration=integration))
    operations = services.operation_views(integration)
    ops = try_it.build_all(integration, [h.name for h in headers])
    if tried is not None and tried.index < len(ops):
        ops[tried.index] = tried
    apps = _apps(m)
    context = _ctx(m, integration=integration, spec=spec, headers=headers,
                   spec_operation_count=len(spec.operations or []),
                   operations=operations, rows=list(zip(operations, ops, strict=False)),
                   callers=services.recent_callers(integration),
                   callers_days=services.RECENT_CALLERS_DAYS,
                   **_panel_context(request, m, apps, ops))
    return render(request, "integrations/detail.html", context, status=status)


def _hidden(integration: WorkspaceIntegration, headers: list[IntegrationHeader],
            m: Membership) -> list[str]:
    """The configured header values the result must not show: the sensitive ones to everyone,
    the others to members (the integration's page hides them from members too)."""
    values = [] if m.has_role("admin") else [h.value for h in headers if not h.sensitive]
    sensitive = {h.name.lower() for h in headers if h.sensitive}
    if sensitive:
        try:
            ref = runtime.lookup(integration.workspace_id, integration.slug)
            config = runtime.config_for(ref) if ref is not None else None
        except Exception:  # noqa: BLE001 (then the proxy could not send them either)
            config = None
        if config is not None:
            values += [v for n, v in config.headers.items() if n.lower() in sensitive]
    return try_it_result.hidden_values(values)


def _credits(workspace_id: int, request_id: str) -> int:
    """What the call cost in the ledger (a refund of a call that was not sent counted)."""
    amounts = CreditEntry.objects.filter(
        workspace_id=workspace_id,
        idempotency_key__in=[f"proxy:{request_id}", f"proxy:{request_id}:refund"],
    ).values_list("amount", flat=True)
    return -sum(amounts)


def _caller_name(user: Any) -> str:
    return (getattr(user, "name", "") or "").strip() or user.email


@plan_gated
def try_it_send(request: HttpRequest, workspace_id: str, integration_id: str) -> HttpResponse:
    integration, m = _integration(request, workspace_id, integration_id)
    detail = reverse("integration-detail", args=[workspace_id, integration_id])
    if request.method != "POST":
        return redirect(detail)
    keys = list(integration.selected_keys or [])
    key = request.POST.get("operation", "")
    panel = request.META.get(PANEL_HEADER) == "panel"
    if key not in keys:
        if panel:
            return HttpResponse("This operation isn't exposed by the integration any more: "
                                "reload the page.", status=400, content_type="text/plain")
        return redirect(detail)
    headers = list(IntegrationHeader.objects.filter(integration=integration))
    op = try_it.build(integration.operations_doc or {}, key, keys.index(key), integration.slug,
                      [h.name for h in headers])
    op.is_open = True
    try_it.load(op, request.POST)
    apps = _apps(m)
    app = next((a for a in apps if a.public_id == request.POST.get("app")), None)
    body, ok = try_it.call_body(op)
    if app is None:
        ok = False
        op.errors.append("Choose the app to call as." if apps else
                         "This workspace has no app yet: calls are made as an app.")
    else:
        op.app_id = app.public_id
    status = 400
    if ok:
        assert app is not None
        request.session[SESSION_APP.format(m.workspace.public_id)] = app.public_id
        request_id = proxy.new_request_id()
        answer = proxy.handle(app, caller_kind="dashboard", caller_name=_caller_name(request.user),
                              slug=integration.slug, operation=key, query_string="",
                              body={**body, "include_headers": True}, request_id=request_id)
        op.result = try_it_result.from_proxy(
            answer.status, answer.body, answer.headers, hidden=_hidden(integration, headers, m),
            credits=_credits(m.workspace.pk, request_id))
        if answer.status == 400:
            try_it.apply_errors(op, answer.body.get("errors"))
        else:
            status = 200
    if panel:
        context = {**_panel_context(request, m, apps, [op]), "t": op,
                   "membership": m, "workspace": m.workspace, "integration": integration}
        return render(request, "integrations/_try_it.html", context, status=status)
    return detail_page(request, integration, m, tried=op, status=status)
