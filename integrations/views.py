"""Dashboard pages of workspace integrations: list, three-step wizard (spec, operations,
configure), details, edit, refresh from URL, delete. Thin: rules live in services.py."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from workspaces import plans
from workspaces.access import get_workspace_for, get_workspace_object
from workspaces.models import Membership, new_public_id

from . import naming, services, uploads
from . import warnings as spec_warnings
from .forms import (
    ConfigureForm,
    HeaderRow,
    SpecSourceForm,
    header_inputs,
    header_rows_from_post,
    rows_for_redisplay,
    rows_from_integration,
)
from .models import SpecImport, WorkspaceIntegration

MANAGE = "manage_integrations"
#: The file name wizard.js gives a big paste it sends as an upload (see SpecSourceForm).
PASTE_AS_FILE = "pasted-spec.txt"
NEW_SELECTION = "integrations:new:{}"
EDIT_SELECTION = "integrations:edit:{}"


def _plan_page(request: HttpRequest, membership: Membership, message: str) -> HttpResponse:
    return render(request, "integrations/plan_required.html", {
        "workspace": membership.workspace, "membership": membership, "plan_message": message,
    }, status=403)


def plan_gated(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Outsiders 404 and missing roles 403 happen in the view; a workspace whose plan does not
    include integrations gets an explanation page (403)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, workspace_id: str, *args: Any, **kwargs: Any
                ) -> HttpResponse:
        try:
            return view(request, workspace_id, *args, **kwargs)
        except plans.PlanRequired as exc:
            membership = get_workspace_for(request.user, workspace_id)
            return _plan_page(request, membership, exc.message)

    return login_required(wrapper)


def _membership(request: HttpRequest, workspace_id: str, action: str = "view") -> Membership:
    m = get_workspace_for(request.user, workspace_id, action)
    plans.require(m.workspace, services.FEATURE)
    return m


def _integration(request: HttpRequest, workspace_id: str, integration_id: str,
                 action: str = "view") -> tuple[WorkspaceIntegration, Membership]:
    integration, m = get_workspace_object(
        request.user, workspace_id, WorkspaceIntegration.objects.select_related("workspace"),
        action, public_id=integration_id)
    plans.require(m.workspace, services.FEATURE)
    return integration, m


def _spec_import(request: HttpRequest, workspace_id: str, import_id: str,
                 ) -> tuple[SpecImport, Membership]:
    spec_import, m = get_workspace_object(
        request.user, workspace_id, SpecImport.objects.defer("raw_text"), MANAGE,
        public_id=import_id)
    plans.require(m.workspace, services.FEATURE)
    return spec_import, m


def _created_from(spec_import: SpecImport) -> WorkspaceIntegration | None:
    """The integration a create import already became (its wizard is over)."""
    if spec_import.purpose != SpecImport.Purpose.CREATE:
        return None
    return (WorkspaceIntegration.objects.filter(workspace_id=spec_import.workspace_id,
                                                spec_id=spec_import.pk)
            .only("public_id", "name", "workspace_id").first())


def _wizard_over(request: HttpRequest, workspace_id: str, spec_import: SpecImport
                 ) -> HttpResponse | None:
    """Back (or a bookmark) to a wizard page after "Create integration": the new integration's
    page instead of a wizard whose state is gone (issue 14 §4.5). Called only after
    ``_spec_import``'s access check: outsiders still get 404 and members without the role 403,
    and an import that is not in the workspace (or no longer there) is a 404 as before."""
    integration = _created_from(spec_import)
    if integration is None:
        return None
    messages.info(request, f"“{integration.name}” was already created from this spec; here "
                           "it is. To add another integration, use “Add integration”.")
    return redirect("integration-detail", workspace_id=workspace_id,
                    integration_id=integration.public_id)


def _ctx(m: Membership, **extra: Any) -> dict[str, Any]:
    return {"workspace": m.workspace, "membership": m, "can_manage": m.has_role("admin"),
            **extra}


# --- list and details ---------------------------------------------------------------------------


@login_required
def integration_list(request: HttpRequest, workspace_id: str) -> HttpResponse:
    m = get_workspace_for(request.user, workspace_id)
    integrations = (WorkspaceIntegration.objects.filter(workspace=m.workspace)
                    .only("public_id", "slug", "name", "description", "base_url",
                          "selected_keys", "last_used_at", "notice", "workspace_id")
                    .order_by("name"))
    context = _ctx(m, integrations=integrations)
    try:
        plans.require(m.workspace, services.FEATURE)
    except plans.PlanRequired as exc:
        # Listed anyway: a workspace that left the plan can still delete its integrations.
        return render(request, "integrations/list.html", {**context, "plan_message": exc.message},
                      status=403)
    return render(request, "integrations/list.html", context)


@plan_gated
def integration_detail(request: HttpRequest, workspace_id: str,
                       integration_id: str) -> HttpResponse:
    """The integration's page, with a Try it form per exposed operation (try_it_views)."""
    from .try_it_views import detail_page

    integration, m = _integration(request, workspace_id, integration_id)
    return detail_page(request, integration, m)


# --- step 1: the spec ---------------------------------------------------------------------------


@csrf_exempt
def integration_new(request: HttpRequest, workspace_id: str) -> HttpResponse:
    """Step 1. An uploaded spec is streamed to a temporary file and on to the storage, capped
    while streaming (``uploads.SpecUploadHandler``); the handler has to be in place before
    anything reads the body, so the CSRF check runs after it (``csrf_protect`` below), as
    Django's documentation on upload handlers says."""
    handler = uploads.install_handler(request) if request.method == "POST" else None
    return _integration_new(request, workspace_id, handler)


@plan_gated
@csrf_protect
def _integration_new(request: HttpRequest, workspace_id: str,
                     handler: uploads.SpecUploadHandler | None) -> HttpResponse:
    m = _membership(request, workspace_id, MANAGE)
    initial = {"source": request.GET.get("source", "url"), "url": request.GET.get("url", "")}
    restored = _restore_text(request, m) if request.method != "POST" else None
    if restored is not None:
        initial.update(source="paste", spec=restored)
    form = SpecSourceForm(request.POST or None, request.FILES or None, initial=initial,
                          upload_too_large=bool(handler and handler.too_large))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        upload = data.get("spec_file")
        try:
            if data["source"] == "url":
                spec_import = services.start_url_import(m.workspace, actor=request.user,
                                                        url=data["url"])
            else:
                # Only stored here: the import task reads and parses it (services.import_mode).
                public_id = new_public_id()
                if upload:
                    uploads.save(public_id, upload)  # a temporary file: moved, not copied
                else:
                    uploads.save_text(public_id, data["spec"])
                spec_import = services.import_stored(m.workspace, actor=request.user,
                                                     public_id=public_id)
        except services.IntegrationError as exc:
            field = {"url": "url", "spec": "spec"}.get(exc.field or "", None)
            if field == "spec" and upload and not data.get("spec"):
                field = "spec_file"
                text = getattr(exc, "spec_text", None)
                if upload.name == PASTE_AS_FILE and text is not None:
                    # A big paste the page sent as a file: give the text back to the editor
                    # so that nothing typed is lost.
                    form = _refilled(request, form, text)
                    field = "spec"
            form.add_error(field, exc.message)
        else:
            return redirect("integration-import", workspace_id=workspace_id,
                            import_id=spec_import.public_id)
    return render(request, "integrations/new.html", _ctx(m, form=form, step=1,
                                                         restored=restored is not None))


def _restore_text(request: HttpRequest, m: Membership) -> str | None:
    """``?restore=<import>``: the text of a paste the worker refused, back in the editor."""
    import_id = request.GET.get("restore", "")
    if not import_id:
        return None
    spec_import = (SpecImport.objects.defer("raw_text")
                   .filter(workspace=m.workspace, public_id=import_id).first())
    if spec_import is None:
        return None
    return services.text_for_editor(spec_import)


def _refilled(request: HttpRequest, form: SpecSourceForm, text: str) -> SpecSourceForm:
    post = request.POST.copy()
    post["source"], post["spec"] = "paste", text
    refilled = SpecSourceForm(post)
    refilled.is_valid()
    return refilled


#: Validator warnings the page shows (the API gives them all).
SHOWN_WARNINGS = 20


def _status_payload(spec_import: SpecImport) -> dict[str, Any]:
    """What the import page polls (static/js/import_progress.js): the stage while it runs,
    ``operations_ready`` once the operation list is known (validation may still run), and
    the validator's warnings once done."""
    done = spec_import.status in (SpecImport.Status.READY, SpecImport.Status.FAILED)
    parsed = services.is_parsed(spec_import)
    warnings = list(spec_import.warnings or []) if done else []
    notes = _warnings_context(spec_import, warnings)
    return {
        "id": spec_import.public_id,
        "status": spec_import.status,
        "stage": spec_import.stage,
        "label": (services.STAGES.get(spec_import.stage)
                  or spec_import.get_status_display()),
        "done": done,
        "error": spec_import.error_message if spec_import.status == "failed" else "",
        # the operation list to select from is there (a spec without operations waits for
        # the end: there is nothing to select)
        "operations_ready": parsed and bool(spec_import.operations),
        "operation_count": len(spec_import.operations or []) if parsed else None,
        "warning_count": len(warnings),
        "warnings": [{"message": w.get("message", ""), "location": w.get("location", "")}
                     for w in warnings[:SHOWN_WARNINGS]],
        # in words, grouped by operation (integrations/warnings.py), and as the page shows them
        "warning_groups": spec_warnings.as_payload(spec_warnings.readable(warnings)),
        "warnings_html": (render_to_string("integrations/_warnings.html", notes)
                          if warnings else ""),
        "warned_operations": notes["warned"],
    }


def _warnings_context(spec_import: SpecImport, warnings: list[dict[str, Any]] | None = None
                      ) -> dict[str, Any]:
    """What ``_warnings.html`` shows and the operation table marks: the validator's warnings
    in words, grouped by operation, all but the first few collapsed."""
    if warnings is None:
        done = spec_import.status in (SpecImport.Status.READY, SpecImport.Status.FAILED)
        warnings = list(spec_import.warnings or []) if done else []
    groups = spec_warnings.readable(warnings)
    shown, more = spec_warnings.split_shown(groups)
    keys = [op["key"] for op in spec_import.operations or [] if isinstance(op, dict)
            and "key" in op] if any(g.path for g in groups) else []
    warned = spec_warnings.affected_operations(groups, keys)
    return {"warning_count": len(warnings), "warnings_shown": shown, "warnings_more": more,
            "warnings_more_count": sum(len(g.items) for g in more),
            "warning_operations": len(warned), "warned": warned}


@plan_gated
def import_detail(request: HttpRequest, workspace_id: str, import_id: str) -> HttpResponse:
    spec_import, m = _spec_import(request, workspace_id, import_id)  # 404/403 first
    return _wizard_over(request, workspace_id, spec_import) or _import_page(request, m,
                                                                            spec_import)


def _import_page(request: HttpRequest, m: Membership, spec_import: SpecImport,
                 checked: list[str] | None = None, error: str = "") -> HttpResponse:
    """The import's progress, failure or result; for a ready refresh, the diff and the form
    that applies it (with the selection to keep, ``checked``, editable)."""
    workspace_id = m.workspace.public_id
    integration = None
    if spec_import.integration_id:
        integration = WorkspaceIntegration.objects.filter(pk=spec_import.integration_id).first()
    diff = spec_import.diff or {}
    selected = set(integration.selected_keys) if integration else set()
    is_current = bool(integration and integration.spec_id == spec_import.pk)
    status = _status_payload(spec_import)
    context = _ctx(
        m, spec_import=spec_import, integration=integration, step=1,
        status=status,
        operation_count=len(spec_import.operations or []),
        status_url=reverse("integration-import-status",
                           args=[workspace_id, spec_import.public_id]),
        diff=diff,
        diff_removed_selected=[k for k in diff.get("removed", []) if k in selected],
        diff_changed_selected=[k for k in diff.get("changed", []) if k in selected],
        is_current=is_current, error=error,
        **_warnings_context(spec_import),
    )
    if (spec_import.purpose == SpecImport.Purpose.CREATE and status["operations_ready"]
            and spec_import.status != SpecImport.Status.FAILED):
        # The operation list as soon as the spec is parsed: the admin selects while the
        # validation runs (Continue waits for it).
        operations = services.operations_of(spec_import)
        checked = request.session.get(NEW_SELECTION.format(spec_import.public_id), [])
        context.update(selecting=True,
                       rows=operation_rows_html(operations, set(checked), context["warned"]),
                       checked_count=len(checked),
                       max_operations=services.max_operations(m.workspace))
    if (integration is not None and not is_current
            and spec_import.purpose == SpecImport.Purpose.REFRESH
            and spec_import.status == SpecImport.Status.READY):
        operations = services.operations_of(spec_import)
        if checked is None:
            available = {op["key"] for op in operations}
            checked = [k for k in integration.selected_keys if k in available]
        context.update(rows=operation_rows_html(operations, set(checked), context["warned"]),
                       checked_count=len(checked), choose_open=bool(error) or not checked,
                       max_operations=services.max_operations(m.workspace))
    return render(request, "integrations/import.html", context)


@login_required
def import_status(request: HttpRequest, workspace_id: str, import_id: str) -> JsonResponse:
    spec_import, _m = get_workspace_object(
        request.user, workspace_id, SpecImport.objects.defer("raw_text"), MANAGE,
        public_id=import_id)
    return JsonResponse(_status_payload(spec_import))


# --- step 2: operations -------------------------------------------------------------------------


def _warned_badge(count: int) -> str:
    if not count:
        return ""
    label = f"{count} validation warning{'s' if count != 1 else ''}"
    return (f' <span class="badge warn op-warned" data-testid="op-warned" title="{label}: see '
            f'the list of warnings">{label}</span>')


def operation_rows_html(operations: list[dict[str, Any]], checked: set[str],
                        warned: dict[str, int] | None = None) -> SafeString:
    """The rows of the operation table, built here rather than in a template loop: the page for
    a 1,000-operation spec has to render in well under 100 ms. ``warned``: operation key ->
    its validator warnings (flagged in the row)."""
    parts = []
    warned = warned or {}
    for i, op in enumerate(operations):
        key = op["key"]
        tags = ", ".join(op.get("tags") or [])
        parts.append(
            '<tr data-search="{s}"><td><input type="checkbox" name="op" value="{k}" id="op-{i}"'
            '{c}></td><td><label for="op-{i}" class="method m-{m}">{M}</label></td>'
            '<td><code>{p}</code>{d}{w}</td><td>{o}</td><td>{su}</td><td>{t}</td></tr>'.format(
                s=escape(services.operation_search_text(op)), k=escape(key), i=i,
                c=" checked" if key in checked else "",
                m=escape(op["method"]), M=escape(op["method"].upper()), p=escape(op["path"]),
                d=' <span class="badge">deprecated</span>' if op.get("deprecated") else "",
                w=_warned_badge(warned.get(key, 0)),
                o=escape(op.get("operation_id") or ""), su=escape(op.get("summary") or ""),
                t=escape(tags)))
    return mark_safe("".join(parts))  # noqa: S308 - every value is escaped above


def _operations_page(request: HttpRequest, m: Membership, spec_import: SpecImport,
                     checked: list[str], **extra: Any) -> HttpResponse:
    operations = services.operations_of(spec_import)
    notes = _warnings_context(spec_import)
    return render(request, "integrations/operations.html", _ctx(
        m, spec_import=spec_import, step=2, operation_count=len(operations),
        rows=operation_rows_html(operations, set(checked), notes["warned"]),
        checked_count=len(checked), warning_count=notes["warning_count"],
        warning_operations=notes["warning_operations"],
        max_operations=services.max_operations(m.workspace), **extra))


def _save_selection(request: HttpRequest, m: Membership, spec_import: SpecImport
                    ) -> list[str]:
    return services.clean_operation_keys(
        m.workspace, request.POST.getlist("op"),
        (op["key"] for op in services.operations_of(spec_import)))


@plan_gated
def new_operations(request: HttpRequest, workspace_id: str, import_id: str) -> HttpResponse:
    spec_import, m = _spec_import(request, workspace_id, import_id)  # 404/403 first
    if (over := _wizard_over(request, workspace_id, spec_import)) is not None:
        return over
    key = NEW_SELECTION.format(spec_import.public_id)
    if spec_import.purpose != "create" or spec_import.status != SpecImport.Status.READY:
        if (request.method == "POST" and spec_import.purpose == "create"
                and services.is_parsed(spec_import)):
            # Selected on the import page while validation runs: kept until it is done.
            try:
                request.session[key] = _save_selection(request, m, spec_import)
            except services.IntegrationError as exc:
                messages.error(request, exc.message)
            else:
                if not request.POST.get("recheck"):
                    messages.info(request, "Validation is still running; your selection is "
                                           "kept. Continue once it is done.")
        return redirect("integration-import", workspace_id=workspace_id, import_id=import_id)
    checked = request.session.get(key, [])
    if request.method == "POST" and request.POST.get("from_import"):
        if request.POST.get("recheck"):  # without JavaScript: keep the selection, look again
            try:
                request.session[key] = _save_selection(request, m, spec_import)
            except services.IntegrationError as exc:
                messages.error(request, exc.message)
            return redirect("integration-import", workspace_id=workspace_id,
                            import_id=import_id)
        if not request.POST.getlist("op"):
            # Continue from the import page with nothing selected yet: choose on step 2.
            return redirect("integration-new-operations", workspace_id=workspace_id,
                            import_id=import_id)
    if request.method == "POST":
        try:
            request.session[key] = _save_selection(request, m, spec_import)
        except services.IntegrationError as exc:
            return _operations_page(request, m, spec_import, request.POST.getlist("op"),
                                    error=exc.message)
        return redirect("integration-new-configure", workspace_id=workspace_id,
                        import_id=import_id)
    return _operations_page(request, m, spec_import, checked)


# --- step 3: configure --------------------------------------------------------------------------


def _selected_rows(spec_import: SpecImport, keys: list[str]) -> list[dict[str, Any]]:
    by_key = {op["key"]: op for op in services.operations_of(spec_import)}
    return [by_key.get(k, {"key": k, "method": k.partition(":")[0],
                           "path": k.partition(":")[2]}) for k in keys]


def _configure_page(request: HttpRequest, m: Membership, form: ConfigureForm,
                    rows: list[HeaderRow], selected: list[dict[str, Any]], **extra: Any
                    ) -> HttpResponse:
    if not rows or rows[-1].name:
        rows = [*rows, HeaderRow(name="")]  # a blank row to fill (works without JavaScript)
    response = render(request, "integrations/configure.html", _ctx(
        m, form=form, header_rows=rows, selected=selected, step=3, **extra))
    if any(r.typed for r in rows):  # a typed sensitive value is in its field: keep no copy
        response["Cache-Control"] = "no-store"
    return response


@plan_gated
def new_configure(request: HttpRequest, workspace_id: str, import_id: str) -> HttpResponse:
    spec_import, m = _spec_import(request, workspace_id, import_id)  # 404/403 first
    if (over := _wizard_over(request, workspace_id, spec_import)) is not None:
        return over  # also a "Create" sent again from the history: nothing new is made
    if spec_import.status != SpecImport.Status.READY or spec_import.purpose != "create":
        return redirect("integration-import", workspace_id=workspace_id, import_id=import_id)
    key = NEW_SELECTION.format(spec_import.public_id)
    keys = request.session.get(key) or []
    if not keys:
        messages.warning(request, "Select the operations to expose first.")
        return redirect("integration-new-operations", workspace_id=workspace_id,
                        import_id=import_id)
    selected = _selected_rows(spec_import, keys)
    extra = {"spec_import": spec_import, "operations_url": reverse(
        "integration-new-operations", args=[workspace_id, import_id])}
    if request.method != "POST":
        form = ConfigureForm(initial={
            "name": spec_import.title[:services.MAX_NAME],
            "slug": services.suggest_slug(m.workspace, naming.api_name(spec_import.title)),
            "base_url": spec_import.default_base_url})
        return _configure_page(request, m, form, [], selected, **extra)
    form = ConfigureForm(request.POST)
    rows = header_rows_from_post(request.POST)
    if form.check_all(m.workspace, rows):
        try:
            integration = services.create_integration(
                m.workspace, actor=request.user, spec_import=spec_import,
                operation_keys=keys, headers=header_inputs(rows), **form.cleaned_data)
        except services.IntegrationError as exc:
            form.add_service_error(exc)
        else:
            request.session.pop(key, None)
            messages.success(request, f"Integration “{integration.name}” created.")
            return redirect("integration-detail", workspace_id=workspace_id,
                            integration_id=integration.public_id)
    return _configure_page(request, m, form, rows_for_redisplay(rows), selected, **extra)


# --- edit ---------------------------------------------------------------------------------------


def _edit_selection(request: HttpRequest, integration: WorkspaceIntegration) -> list[str] | None:
    saved = request.session.get(EDIT_SELECTION.format(integration.public_id))
    if isinstance(saved, dict) and saved.get("version") == integration.config_version:
        return list(saved.get("keys") or [])
    return None


@plan_gated
def integration_edit(request: HttpRequest, workspace_id: str, integration_id: str
                     ) -> HttpResponse:
    integration, m = _integration(request, workspace_id, integration_id, MANAGE)
    spec = SpecImport.objects.defer("raw_text").get(pk=integration.spec_id)
    pending = _edit_selection(request, integration)
    keys = pending if pending is not None else integration.selected_keys
    extra = {"integration": integration, "spec_import": spec,
             "selection_pending": pending is not None and pending != integration.selected_keys,
             "operations_url": reverse("integration-edit-operations",
                                       args=[workspace_id, integration_id]),
             "unloadable": services.unloadable_headers(integration)}
    selected = _selected_rows(spec, keys)
    if request.method != "POST":
        form = ConfigureForm(initial={"slug": integration.slug, "name": integration.name,
                                      "description": integration.description,
                                      "base_url": integration.base_url})
        return _configure_page(request, m, form, rows_from_integration(integration), selected,
                               **extra)
    form = ConfigureForm(request.POST)
    rows = header_rows_from_post(request.POST)
    reenter: list[str] = []
    if form.check_all(m.workspace, rows, integration):
        try:
            services.update_integration(
                integration, actor=request.user, operation_keys=keys,
                headers=header_inputs(rows), **form.cleaned_data)
        except services.IntegrationError as exc:
            form.add_service_error(exc)
            if isinstance(exc, services.OriginMoved):
                reenter = exc.headers
        else:
            request.session.pop(EDIT_SELECTION.format(integration.public_id), None)
            messages.success(request, f"Integration “{form.cleaned_data['name']}” saved.")
            return redirect("integration-detail", workspace_id=workspace_id,
                            integration_id=integration_id)
    return _configure_page(request, m, form, rows_for_redisplay(rows, reenter), selected,
                           **extra)


@plan_gated
def integration_edit_operations(request: HttpRequest, workspace_id: str, integration_id: str
                                ) -> HttpResponse:
    integration, m = _integration(request, workspace_id, integration_id, MANAGE)
    spec = SpecImport.objects.defer("raw_text").get(pk=integration.spec_id)
    pending = _edit_selection(request, integration)
    checked = pending if pending is not None else integration.selected_keys
    extra = {"integration": integration}
    if request.method == "POST":
        try:
            keys = _save_selection(request, m, spec)
        except services.IntegrationError as exc:
            return _operations_page(request, m, spec, request.POST.getlist("op"),
                                    error=exc.message, **extra)
        request.session[EDIT_SELECTION.format(integration.public_id)] = {
            "keys": keys, "version": integration.config_version}
        return redirect("integration-edit", workspace_id=workspace_id,
                        integration_id=integration_id)
    return _operations_page(request, m, spec, checked, **extra)


# --- refresh and delete -------------------------------------------------------------------------


@plan_gated
@require_POST
def integration_refresh(request: HttpRequest, workspace_id: str, integration_id: str
                        ) -> HttpResponse:
    integration, m = _integration(request, workspace_id, integration_id, MANAGE)
    try:
        spec_import = services.start_refresh(integration, actor=request.user)
    except services.IntegrationError as exc:
        messages.error(request, exc.message)
        return redirect("integration-detail", workspace_id=workspace_id,
                        integration_id=integration_id)
    return redirect("integration-import", workspace_id=workspace_id,
                    import_id=spec_import.public_id)


@plan_gated
@require_POST
def integration_refresh_apply(request: HttpRequest, workspace_id: str, integration_id: str,
                              import_id: str) -> HttpResponse:
    integration, m = _integration(request, workspace_id, integration_id, MANAGE)
    spec_import, _ = _spec_import(request, workspace_id, import_id)
    # The page sends the selection to keep ("choose"); without it, the current selection minus
    # the operations that are gone is kept.
    keys = request.POST.getlist("op") if request.POST.get("choose") else None
    try:
        _integration_after, dropped = services.apply_refresh(integration, spec_import,
                                                             actor=request.user,
                                                             operation_keys=keys)
    except services.IntegrationError as exc:
        return _import_page(request, m, spec_import, checked=keys, error=exc.message)
    text = "The refreshed spec is now in use."
    if dropped:
        text += " Removed from the selection (no longer in the spec): " + ", ".join(dropped)
    messages.success(request, text)
    return redirect("integration-detail", workspace_id=workspace_id,
                    integration_id=integration_id)


@login_required
def integration_delete(request: HttpRequest, workspace_id: str, integration_id: str
                       ) -> HttpResponse:
    # No plan check: a workspace that left the Builder plan can still remove its integrations.
    integration, m = get_workspace_object(request.user, workspace_id, WorkspaceIntegration,
                                          MANAGE, public_id=integration_id)
    if request.method == "POST":
        services.delete_integration(integration, actor=request.user)
        messages.success(request, f"Integration “{integration.name}” deleted.")
        return redirect("integrations", workspace_id=workspace_id)
    return render(request, "integrations/delete.html", _ctx(
        m, integration=integration, callers=services.recent_callers(integration),
        callers_days=services.RECENT_CALLERS_DAYS))
