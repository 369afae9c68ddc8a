"""The Calls page of a workspace: every proxied call (filters: app, integration, outcome,
live or sandbox, period, request id; sandbox calls carry a badge) and a usage chart (calls
and credits per day, by integration) drawn as server-side SVG. Members can see it: call
rows hold no header values or bodies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from workspaces.access import get_workspace_for
from workspaces.models import App, Workspace

from .models import CallLog, WorkspaceIntegration

PERIODS = {"24h": ("Last 24 hours", 1), "7d": ("Last 7 days", 7), "30d": ("Last 30 days", 30),
           "90d": ("Last 90 days", 90)}
OUTCOMES = {
    "": "Any outcome",
    "success": "Upstream 2xx",
    "upstream_error": "Upstream error (non-2xx answer)",
    "refused": "Refused (4xx: auth, validation, credits, rate limit, not found)",
    "failed": "Failed (5xx: unreachable, timeout, blocked)",
}
MODES = {"": "Live and sandbox", "live": "Live calls only",
         "sandbox": "Sandbox calls only (answered from the spec)"}
PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#db2777",
           "#65a30d"]
OTHER_COLOR = "#94a3b8"
PAGE_SIZE = 50
CHART_W, CHART_H, CHART_PAD = 720, 180, 28


class CallFilterForm(forms.Form):
    app = forms.ChoiceField(required=False, label="App")
    integration = forms.ChoiceField(required=False, label="Integration")
    outcome = forms.ChoiceField(required=False, label="Outcome", choices=OUTCOMES.items())
    mode = forms.ChoiceField(required=False, label="Mode", choices=MODES.items())
    status = forms.IntegerField(required=False, min_value=100, max_value=599, label="Status",
                                help_text="Our status or the upstream's")
    period = forms.ChoiceField(required=False, label="Period", initial="7d",
                               choices=[(k, v[0]) for k, v in PERIODS.items()])
    request_id = forms.CharField(required=False, max_length=40, label="Request id")

    def __init__(self, data: Any, *, apps: list[App], slugs: list[str]) -> None:
        super().__init__(data)
        self.fields["app"].choices = [("", "All apps")] + [(a.public_id, a.name) for a in apps]
        self.fields["integration"].choices = [("", "All integrations")] + [
            (s, s) for s in slugs]


def _filtered(workspace: Workspace, data: dict[str, Any]) -> QuerySet[CallLog]:
    since = timezone.now() - timedelta(days=PERIODS[data.get("period") or "7d"][1])
    qs = CallLog.objects.filter(workspace=workspace, created_at__gte=since)
    if data.get("app"):
        qs = qs.filter(app__public_id=data["app"])
    if data.get("integration"):
        qs = qs.filter(integration_slug=data["integration"])
    if data.get("status"):
        qs = qs.filter(Q(response_status=data["status"]) | Q(status_code=data["status"]))
    if data.get("request_id"):
        qs = qs.filter(request_id=data["request_id"].strip())
    if data.get("mode"):
        qs = qs.filter(sandbox=data["mode"] == "sandbox")
    outcome = data.get("outcome")
    if outcome == "success":
        qs = qs.filter(response_status=200, status_code__gte=200, status_code__lt=300)
    elif outcome == "upstream_error":
        qs = qs.filter(response_status=200).exclude(status_code__gte=200, status_code__lt=300)
    elif outcome == "refused":
        qs = qs.filter(response_status__gte=400, response_status__lt=500)
    elif outcome == "failed":
        qs = qs.filter(response_status__gte=500)
    return qs


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    color: str
    title: str


def usage_chart(rows: list[dict[str, Any]], days: int, today: date) -> dict[str, Any]:
    """Stacked bars of calls per day by integration, and credits per day as a line."""
    first = today - timedelta(days=days - 1)
    dates = [first + timedelta(days=n) for n in range(days)]
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["integration_slug"]] = totals.get(row["integration_slug"], 0) + row["calls"]
    ranked = sorted(totals, key=lambda s: (-totals[s], s))
    colors = {slug: PALETTE[n] for n, slug in enumerate(ranked[: len(PALETTE)])}
    per_day: dict[date, dict[str, tuple[int, int]]] = {d: {} for d in dates}
    for row in rows:
        day = row["day"]
        if day not in per_day:
            continue
        slug = row["integration_slug"] if row["integration_slug"] in colors else "other"
        calls, spent = per_day[day].get(slug, (0, 0))
        per_day[day][slug] = (calls + row["calls"], spent + (row["credits"] or 0))
    day_calls = {d: sum(c for c, _ in v.values()) for d, v in per_day.items()}
    day_credits = {d: sum(s for _, s in v.values()) for d, v in per_day.items()}
    # Calls (bars) and credits (the line) each on their own scale: the chart says both maxima.
    peak = max([*day_calls.values(), 1])
    credit_peak = max([*day_credits.values(), 1])
    inner_h = CHART_H - CHART_PAD
    slot = CHART_W / days
    width = max(slot * 0.7, 1.0)
    bars: list[Bar] = []
    points: list[str] = []
    for n, day in enumerate(dates):
        x = n * slot + (slot - width) / 2
        y = float(inner_h)
        for slug in [*ranked, "other"]:
            if slug not in per_day[day]:
                continue
            calls, spent = per_day[day][slug]
            height = calls / peak * (inner_h - 8)
            y -= height
            bars.append(Bar(round(x, 1), round(y, 1), round(width, 1), round(height, 1),
                            colors.get(slug, OTHER_COLOR),
                            f"{day:%b %-d}: {slug}, {calls} call{'s' if calls != 1 else ''}, "
                            f"{spent} credit{'s' if spent != 1 else ''}"))
        credit_y = inner_h - day_credits[day] / credit_peak * (inner_h - 8)
        points.append(f"{round(n * slot + slot / 2, 1)},{round(credit_y, 1)}")
    step = max(1, days // 7)
    labels = [{"x": round(n * slot + slot / 2, 1), "text": f"{d:%b %-d}"}
              for n, d in enumerate(dates) if n % step == 0 or n == days - 1]
    legend = [{"slug": s, "color": colors[s], "calls": totals[s]} for s in ranked[:len(PALETTE)]]
    if len(ranked) > len(PALETTE):
        legend.append({"slug": "other", "color": OTHER_COLOR,
                       "calls": sum(totals[s] for s in ranked[len(PALETTE):])})
    table = [{"day": d, "calls": day_calls[d], "credits": day_credits[d]} for d in dates
             if day_calls[d]]
    return {"width": CHART_W, "height": CHART_H, "axis_y": inner_h, "bars": bars,
            "credit_points": " ".join(points), "labels": labels, "legend": legend,
            "peak": peak, "credit_peak": credit_peak, "table": table, "label_y": CHART_H - 8}


@login_required
def calls_page(request: HttpRequest, workspace_id: str) -> HttpResponse:
    membership = get_workspace_for(request.user, workspace_id)
    workspace = membership.workspace
    apps = list(App.objects.filter(workspace=workspace).only("public_id", "name"))
    # the workspace's integrations, plus what else has calls here (connector:<type>, and
    # integrations deleted since)
    # (no ORDER BY inside a UNION: SQLite refuses it, and both models have a default ordering)
    slugs = sorted(WorkspaceIntegration.objects.filter(workspace=workspace).order_by()
                   .values_list("slug", flat=True)
                   .union(CallLog.objects.filter(workspace=workspace, integration__isnull=True)
                          .order_by().values_list("integration_slug", flat=True)))
    form = CallFilterForm(request.GET or None, apps=apps, slugs=slugs)
    form.is_valid()
    # A bad value (shown as the field's error) drops that filter only; the others still apply.
    data = getattr(form, "cleaned_data", {})
    period = data.get("period") or "7d"
    calls = _filtered(workspace, data)
    totals = calls.aggregate(calls=Count("id"), credits=Sum("credits"))
    paginator = Paginator(calls.select_related("app").order_by("-created_at", "-id"), PAGE_SIZE)
    paginator.count = totals["calls"]  # known already: no second COUNT(*)
    page = paginator.get_page(request.GET.get("page"))
    rows = list(calls.annotate(day=TruncDate("created_at"))
                .values("day", "integration_slug")
                .annotate(calls=Count("id"), credits=Sum("credits")).order_by())
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "integrations/calls.html", {
        "workspace": workspace, "membership": membership, "form": form, "page": page,
        "chart": usage_chart(rows, PERIODS[period][1], timezone.localdate()),
        "period_label": PERIODS[period][0], "totals": totals, "query": query.urlencode(),
    })
