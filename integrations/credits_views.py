"""The Credits page of a workspace: the balance, the burn rate and when it runs out, a chart of
credits per day by integration or by app (pygal, served as its own SVG image), the top
operations, and the activity: usage summed per day with its breakdown by app and integration
(each linking to the Calls page), grants, awards, refunds and adjustments as their own rows.
``?view=ledger`` is the raw ledger, one row per entry.

It lives here, not in ``workspaces``, because the breakdown reads the call log
(``integrations.usage``). Members can see it, as before: amounts, app and integration names,
never a secret."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import date
from urllib.parse import urlencode

import pygal
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from pygal.style import Style

from workspaces import credits
from workspaces.access import get_workspace_for
from workspaces.models import CreditEntry

from . import usage

ACTIVITY_PAGE_SIZE = 50
LEDGER_PAGE_SIZE = 25
PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#db2777",
           "#94a3b8")
CHART_STYLE = Style(
    background="#ffffff", plot_background="#ffffff", foreground="#334155",
    foreground_strong="#0f172a", foreground_subtle="#e2e8f0", colors=PALETTE,
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    label_font_size=11, major_label_font_size=11, legend_font_size=12, value_font_size=11,
    tooltip_font_size=12, no_data_font_size=16)


def _choice(request: HttpRequest, name: str, choices: dict[str, object], default: str) -> str:
    value = request.GET.get(name, default)
    return value if value in choices else default


def calls_link(workspace_id: str, *, period: str, app: str | None = None,
               integration: str | None = None) -> str:
    """The Calls page with its own filters (app, integration, period)."""
    query = {"period": period}
    if app:
        query["app"] = app
    if integration:
        query["integration"] = integration
    return f"{reverse('calls', args=[workspace_id])}?{urlencode(query)}"


@login_required
def credits_page(request: HttpRequest, workspace_id: str) -> HttpResponse:
    m = get_workspace_for(request.user, workspace_id)
    workspace = m.workspace
    balance = credits.balance(workspace)
    context = {"workspace": workspace, "membership": m, "balance": balance}
    if request.GET.get("view") == "ledger":
        entries = CreditEntry.objects.filter(workspace=workspace).order_by("-created_at", "-id")
        context["page"] = Paginator(entries, LEDGER_PAGE_SIZE).get_page(request.GET.get("page"))
        return render(request, "integrations/credits_ledger.html", context)

    period = _choice(request, "period", usage.PERIODS, usage.DEFAULT_PERIOD)
    by = _choice(request, "by", usage.GROUPS, "integration")
    window = usage.window_for(period)
    rows = usage.usage_by_day(workspace, window)
    series = usage.chart_series(rows, window, by)
    calls_period = period  # the Calls page knows 30d and 90d too
    for n, s in enumerate(series):
        s.color = PALETTE[n % len(PALETTE)]  # pygal colours series in this order
        if s.label != "Other":
            s.url = calls_link(workspace.public_id, period=calls_period, app=s.app_id,
                               integration=s.integration)
    items = usage.activity(workspace, window, rows)
    for item in items:
        for row in item.breakdown:
            row.url = calls_link(workspace.public_id, period=calls_period, app=row.app_id,
                                 integration=row.integration)
    page = Paginator(items, ACTIVITY_PAGE_SIZE).get_page(request.GET.get("page"))
    query = {"period": period, "by": by}
    context.update({
        "period": period, "period_label": usage.PERIODS[period][0], "by": by,
        "periods": [(k, v[0]) for k, v in usage.PERIODS.items()],
        "groups": list(usage.GROUPS.items()),
        "burn": usage.burn_rate(workspace, window, balance),
        "series": series, "total_spent": sum(s.credits for s in series),
        "operations": usage.top_operations(workspace, window),
        "page": page, "query": urlencode(query),
        "chart_url": f"{reverse('credits-chart', args=[workspace.public_id])}?"
                     f"{urlencode(query)}",
        "calls_url": calls_link(workspace.public_id, period=calls_period),
    })
    return render(request, "integrations/credits.html", context)


_STYLE = re.compile(rb"<style[^>]*>(.*?)</style>", re.S)
_SCRIPT = re.compile(rb"<script\b[^>]*>.*?</script>|<script\b[^>]*/>", re.S)


def _unescape(raw: bytes) -> bytes:
    return (raw.replace(b"&lt;", b"<").replace(b"&gt;", b">").replace(b"&quot;", b'"')
            .replace(b"&apos;", b"'").replace(b"&amp;", b"&"))


def svg_policy(svg: bytes) -> str:
    """The SVG image's own Content-Security-Policy: nothing may load or run; only its own
    <style> blocks apply, allowed by their SHA-256 (no 'unsafe-inline')."""
    hashes = set()
    for m in _STYLE.finditer(svg):
        for text in {m.group(1), _unescape(m.group(1))}:
            digest = base64.b64encode(hashlib.sha256(text).digest()).decode()
            hashes.add(f"'sha256-{digest}'")
    styles = " ".join(sorted(hashes)) or "'none'"
    return f"default-src 'none'; style-src {styles}; frame-ancestors 'none'; base-uri 'none'"


def render_chart(series: list[usage.Series], dates: list[date], *, title: str) -> bytes:
    chart = pygal.StackedBar(
        style=CHART_STYLE, js=[], width=880, height=340, explicit_size=False,
        show_legend=False, truncate_label=-1,  # the page's table is the legend (colour swatches)
        show_minor_x_labels=False, x_labels_major_every=7 if len(dates) <= 31 else 14,
        y_title="credits", print_values=False, min_scale=2, max_scale=6,
        no_data_text="No credits spent in this period", margin=8, spacing=8,
        disable_xml_declaration=False, pretty_print=False)
    chart.title = title
    chart.x_labels = [f"{d:%b} {d.day}" for d in dates]
    for s in series:
        chart.add(f"{s.label} ({s.credits:,})", s.values)
    # pygal always embeds its config as a <script> (for its optional tooltips): drop it, the
    # image runs no script (an <img> never would, and its policy forbids them anyway). Text is
    # XML-escaped, so no "</script>" can hide inside.
    # Its hidden tooltip layer is the one style attribute it writes: a presentation attribute
    # does the same without needing 'unsafe-hashes'.
    svg = _SCRIPT.sub(b"", chart.render()).replace(b'style="opacity: 0"', b'opacity="0"')
    return svg


@login_required
@require_GET
def credits_chart(request: HttpRequest, workspace_id: str) -> HttpResponse:
    """The chart as an SVG image (the page shows it with <img> and the same numbers in a
    table)."""
    m = get_workspace_for(request.user, workspace_id)
    period = _choice(request, "period", usage.PERIODS, usage.DEFAULT_PERIOD)
    by = _choice(request, "by", usage.GROUPS, "integration")
    window = usage.window_for(period)
    series = usage.chart_series(usage.usage_by_day(m.workspace, window), window, by)
    svg = render_chart(series, window.dates(),
                       title=f"Credits per day, {usage.GROUPS[by].lower()}")
    response = HttpResponse(svg, content_type="image/svg+xml; charset=utf-8")
    response["Content-Security-Policy"] = svg_policy(svg)
    response["Cache-Control"] = "private, max-age=60"
    response["X-Content-Type-Options"] = "nosniff"
    return response
