"""Read-side aggregation for the Credits page: where a workspace's credits went.

The ledger (``workspaces.credits``) is the truth for amounts; it knows the day and the kind of
each entry but not the app, so the breakdown by app, integration and operation comes from the
call log (``CallLog.credits``: what each call finally cost, 0 once refunded). Both are read
here, never written. ``workspaces`` can't import ``CallLog`` (the dependency rule), so this
module and the Credits page live in ``integrations``.

Every function takes a window of whole local days ending today and runs one query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from workspaces.models import CreditEntry, Workspace

from .models import CallLog

PERIODS = {"30d": ("Last 30 days", 30), "90d": ("Last 90 days", 90)}
DEFAULT_PERIOD = "30d"
GROUPS = {"integration": "By integration", "app": "By app"}
DELETED_APP = "(deleted app)"
TOP_SERIES = 7  # series shown by name in the chart; the rest are summed as "Other"


@dataclass(frozen=True)
class Window:
    days: int
    first_day: date
    last_day: date
    since: datetime  # start of first_day, local time

    @classmethod
    def ending_today(cls, days: int, today: date | None = None) -> Window:
        today = today or timezone.localdate()
        first = today - timedelta(days=days - 1)
        since = timezone.make_aware(datetime.combine(first, time.min))
        return cls(days, first, today, since)

    def dates(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range(self.days)]


def window_for(period: str, today: date | None = None) -> Window:
    return Window.ending_today(PERIODS.get(period, PERIODS[DEFAULT_PERIOD])[1], today)


# --- the call log: by day, app, integration ----------------------------------------------------


@dataclass
class UsageRow:
    """Credits spent on one day by one app through one integration (calls that cost nothing
    are left out)."""

    day: date
    app_id: str | None
    app_name: str
    integration: str
    calls: int
    credits: int
    url: str = ""  # the Calls page, filtered (set by the view)


def usage_by_day(workspace: Workspace, window: Window) -> list[UsageRow]:
    rows = (CallLog.objects.filter(workspace=workspace, created_at__gte=window.since,
                                   credits__gt=0)
            .annotate(day=TruncDate("created_at"))
            .values("day", "app__public_id", "app__name", "integration_slug")
            .annotate(calls=Count("id"), spent=Sum("credits")).order_by())
    return [UsageRow(r["day"], r["app__public_id"], r["app__name"] or DELETED_APP,
                     r["integration_slug"], r["calls"], r["spent"] or 0) for r in rows]


@dataclass
class Operation:
    integration: str
    operation: str
    calls: int
    credits: int


def top_operations(workspace: Workspace, window: Window, limit: int = 10) -> list[Operation]:
    rows = (CallLog.objects.filter(workspace=workspace, created_at__gte=window.since,
                                   credits__gt=0)
            .values("integration_slug", "operation")
            .annotate(calls=Count("id"), spent=Sum("credits"))
            .order_by("-spent", "-calls", "integration_slug", "operation")[:limit])
    return [Operation(r["integration_slug"], r["operation"], r["calls"], r["spent"] or 0)
            for r in rows]


@dataclass
class Series:
    label: str
    credits: int
    values: list[int]
    app_id: str | None = None  # for a link to the Calls page
    integration: str | None = None
    url: str = ""
    color: str = ""


def chart_series(rows: list[UsageRow], window: Window, by: str) -> list[Series]:
    """Credits per day, one series per app or integration: the biggest TOP_SERIES by name,
    the rest summed as "Other"."""
    dates = window.dates()
    index = {d: n for n, d in enumerate(dates)}
    series: dict[str, Series] = {}
    for row in rows:
        if row.day not in index:
            continue
        if by == "app":
            key, label = row.app_id or "", row.app_name
        else:
            key, label = row.integration, row.integration
        s = series.get(key)
        if s is None:
            s = series[key] = Series(label, 0, [0] * len(dates),
                                     app_id=row.app_id if by == "app" else None,
                                     integration=row.integration if by != "app" else None)
        s.credits += row.credits
        s.values[index[row.day]] += row.credits
    ranked = sorted(series.values(), key=lambda s: (-s.credits, s.label))
    if len(ranked) <= TOP_SERIES + 1:
        return ranked
    other = Series("Other", 0, [0] * len(dates))
    for s in ranked[TOP_SERIES:]:
        other.credits += s.credits
        other.values = [a + b for a, b in zip(other.values, s.values, strict=True)]
    return [*ranked[:TOP_SERIES], other]


# --- the ledger: totals, burn rate, the activity list -----------------------------------------


@dataclass
class Burn:
    spent: int  # usage minus refunds in the window
    days: int  # days the rate is averaged over
    per_day: float
    balance: int
    runs_out_on: date | None  # None: nothing spent, no projection

    @property
    def days_left(self) -> int | None:
        if self.runs_out_on is None:
            return None
        return (self.runs_out_on - timezone.localdate()).days


def burn_rate(workspace: Workspace, window: Window, balance: int) -> Burn:
    """Net credits spent per day over the window (or since the workspace was created, if
    later), and the day the balance reaches 0 at that rate (future grants not counted)."""
    totals = CreditEntry.objects.filter(workspace=workspace, created_at__gte=window.since
                                        ).aggregate(
        usage=Sum("amount", filter=Q(kind=CreditEntry.Kind.USAGE)),
        refunds=Sum("amount", filter=Q(kind=CreditEntry.Kind.REFUND)))
    spent = max(0, -(totals["usage"] or 0) - (totals["refunds"] or 0))
    started = timezone.localtime(workspace.created_at).date()
    days = max(1, min(window.days, (window.last_day - started).days + 1))
    per_day = spent / days
    runs_out = None
    if per_day > 0:
        runs_out = window.last_day + timedelta(days=max(0, math.floor(balance / per_day)))
    return Burn(spent, days, per_day, balance, runs_out)


@dataclass
class Activity:
    """One row of the Credits page's activity list: a day's usage (with its breakdown by app
    and integration), or one ledger entry of another kind (grant, award, refund, adjustment)."""

    day: date
    when: datetime | None
    kind: str
    kind_label: str
    amount: int
    reason: str = ""
    url: str = ""
    balance_after: int | None = None
    entries: int = 0
    breakdown: list[UsageRow] = field(default_factory=list)


def activity(workspace: Workspace, window: Window, rows: list[UsageRow]) -> list[Activity]:
    """Newest first. Usage entries are summed per day (the ledger's amount) with the call
    log's breakdown under them; every other entry stays its own row."""
    entries = CreditEntry.objects.filter(workspace=workspace, created_at__gte=window.since)
    usage = (entries.filter(kind=CreditEntry.Kind.USAGE).annotate(day=TruncDate("created_at"))
             .values("day").annotate(total=Sum("amount"), n=Count("id")).order_by())
    by_day: dict[date, list[UsageRow]] = {}
    for row in rows:
        by_day.setdefault(row.day, []).append(row)
    out = [Activity(u["day"], None, CreditEntry.Kind.USAGE, "Usage", u["total"], entries=u["n"],
                    breakdown=sorted(by_day.get(u["day"], []),
                                     key=lambda r: (-r.credits, r.app_name, r.integration)))
           for u in usage]
    others = entries.exclude(kind=CreditEntry.Kind.USAGE).only(
        "kind", "amount", "reason", "reference_url", "balance_after", "created_at")
    labels = dict(CreditEntry.Kind.choices)
    for e in others:
        out.append(Activity(timezone.localtime(e.created_at).date(), e.created_at, e.kind,
                            labels.get(e.kind, e.kind), e.amount, e.reason, e.reference_url,
                            e.balance_after))
    # newest day first; within a day the usage row first, then the entries newest first
    out.sort(key=lambda a: (a.day, a.when is None, a.when.timestamp() if a.when else 0),
             reverse=True)
    return out


# --- what a downgrade stops (workspaces.plan_impact) -------------------------------------------


def plan_downgrade_impact(workspace: Workspace, new: object) -> list[str]:
    """The workspace integrations a plan without them makes unmanageable, and the apps that
    called them in the last 30 days (their calls keep working: the proxy doesn't check the
    plan)."""
    from .models import WorkspaceIntegration

    if getattr(new, "workspace_integrations", True):
        return []
    slugs = list(WorkspaceIntegration.objects.filter(workspace=workspace)
                 .order_by("slug").values_list("slug", flat=True))
    if not slugs:
        return []
    shown = ", ".join(slugs[:8]) + (f" and {len(slugs) - 8} more" if len(slugs) > 8 else "")
    lines = [f"{len(slugs)} workspace integration{'s' if len(slugs) != 1 else ''} ({shown}): "
             "their pages and the admin API answer “plan required”; none can be added, "
             "edited or deleted. They are kept, and come back with an upgrade."]
    since = timezone.now() - timedelta(days=30)
    apps = sorted(set(CallLog.objects.filter(workspace=workspace, created_at__gte=since,
                                             integration__isnull=False, app__isnull=False)
                      .values_list("app__name", flat=True)))
    if apps:
        lines.append(f"Apps that called them in the last 30 days ({', '.join(apps[:8])}"
                     f"{' and more' if len(apps) > 8 else ''}) keep calling them, but nobody "
                     "can change their configuration (headers, operations, base URL).")
    return lines
