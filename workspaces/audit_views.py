"""The workspace's audit trail in the dashboard (admins and owners): the page and its CSV
export. Both read through ``workspaces.audit``; nothing here writes an entry."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from . import audit
from .access import get_workspace_for
from .models import Workspace

PAGE_SIZE = 50
CSV_COLUMNS = ["time", "actor_kind", "actor", "action", "target_type", "target_id",
               "target_name", "scope", "changes"]


class AuditFilterForm(forms.Form):
    actor = forms.ChoiceField(required=False, label="Actor")
    action = forms.ChoiceField(required=False, label="Action")
    target_type = forms.ChoiceField(required=False, label="Target type")
    since = forms.DateField(required=False, label="From",
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To",
                            widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data: Any, workspace: Workspace) -> None:
        super().__init__(data)
        facets = audit.facets(workspace)
        self.fields["actor"].choices = [("", "Anyone"), *audit.actor_choices(workspace)]
        prefixes = sorted({a.split(".")[0] + "." for a in facets["actions"] if "." in a})
        self.fields["action"].choices = [
            ("", "Any action"), *((p, f"{p}*") for p in prefixes),
            *((a, a) for a in facets["actions"])]
        self.fields["target_type"].choices = [("", "Any target"),
                                              *((t, t) for t in facets["target_types"])]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end date is before the start date.")
        return data

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v}


def _entries(request: HttpRequest, workspace_id: str) -> tuple[Any, AuditFilterForm, Any]:
    m = get_workspace_for(request.user, workspace_id, "view_audit")
    form = AuditFilterForm(request.GET or None, m.workspace)
    return m, form, audit.entries(m.workspace, **form.filters())


def describe(changes: Any) -> list[tuple[str, str]]:
    """(field, "before → after" or a marker) for the page."""
    if not isinstance(changes, dict):
        return [("", json.dumps(changes, ensure_ascii=False))]
    out = []
    for field, change in changes.items():
        if isinstance(change, dict) and set(change) == {"from", "to"}:
            out.append((field, f"{_show(change['from'])} → {_show(change['to'])}"))
        else:
            out.append((field, _show(change)))
    return out


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@login_required
def audit_page(request: HttpRequest, workspace_id: str) -> HttpResponse:
    m, form, qs = _entries(request, workspace_id)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    links = audit.target_links(m.workspace, rows)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "workspaces/audit.html", {
        "workspace": m.workspace, "membership": m, "form": form, "page": page,
        "rows": [(e, links.get(e.pk), describe(e.changes)) for e in rows],
        "query": query.urlencode(),
    })


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet won't run as a formula (=, +, -, @, tab, CR first)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_rows(qs: Any) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for e in qs.iterator(chunk_size=500):
        yield writer.writerow([_cell(v) for v in (
            e.created_at.isoformat(), e.actor_kind, e.actor_label, e.action, e.target_type,
            e.target_id, e.target_name, e.scope,
            json.dumps(e.changes, ensure_ascii=False, sort_keys=True))])


@login_required
def audit_csv(request: HttpRequest, workspace_id: str) -> StreamingHttpResponse:
    m, _form, qs = _entries(request, workspace_id)
    name = f"audit-{m.workspace.public_id}-{timezone.now():%Y%m%d}.csv"
    response = StreamingHttpResponse(_csv_rows(qs.select_related(None)),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response

