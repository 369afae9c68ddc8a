"""Per-app monthly credit caps: the notices at 80 % and 100 % of a cap, and the month's usage
as the app page and the admin API show it.

The ledger (``credits.charge(..., app=app)``) keeps ``AppCreditUsage`` in step and refuses a
charge over the cap; it calls ``after_charge`` / ``after_refusal`` here. Each notice goes out
once per app and month: ``notified_80_at`` / ``notified_100_at`` are set by a conditional
UPDATE (``... WHERE notified_100_at IS NULL``), so of concurrent calls crossing the line only
the one whose UPDATE changed the row sends. A notice is an e-mail to the workspace's admins
and owners (the outbox, sent by the ``send_email`` task on commit) and the in-app notice on
the app's page (``usage_summary``: when the line was crossed). Floors above may listen to
``cap_notice`` (sent on commit) to add their own notification; the ground floor names none.

A notice never breaks the call that crossed the line: its charge is already made, so a
failure here is logged, not raised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .credits import AppCreditCapReached, CapState, month_start
from .models import App, AppCreditUsage, Membership, Role

log = logging.getLogger(__name__)

#: Sent on commit after a notice went out: ``app``, ``level`` (80 or 100), ``used``, ``cap``.
cap_notice = Signal()


def level_for(used: int, cap: int | None) -> int | None:
    """100 at or over the cap, 80 from 80 % of it, else None (integers only, no rounding)."""
    if cap is None:
        return None
    if used >= cap:
        return 100
    if used * 5 >= cap * 4:
        return 80
    return None


def after_charge(app: App, state: CapState) -> None:
    level = level_for(state.used, state.cap)
    if level is None or state.notified_100 or (level == 80 and state.notified_80):
        return  # the common case: no line crossed, or its notice went out already
    _notify_safely(app, state.month, level, state.used, int(state.cap or 0))


def after_refusal(app: App, exc: AppCreditCapReached) -> None:
    """A charge was refused at the cap: the 100 % notice, if it has not gone out (a charge of
    several credits can stop short of the cap exactly)."""
    _notify_safely(app, month_start(), 100, exc.used, exc.cap)


def _notify_safely(app: App, month: date, level: int, used: int, cap: int) -> None:
    try:
        notify(app, month, level, used=used, cap=cap)
    except Exception:  # the call's charge stands; a lost notice is logged, never a 500
        log.exception("credit cap notice failed: app=%s level=%s", app.pk, level)


def notify(app: App, month: date, level: int, *, used: int, cap: int) -> bool:
    """Send the `level` notice of `month` unless it went out already. True when sent now."""
    now = timezone.now()
    with transaction.atomic():
        AppCreditUsage.objects.get_or_create(app_id=app.pk, month=month)
        rows = AppCreditUsage.objects.filter(app_id=app.pk, month=month)
        if level == 100:  # reaching the cap covers the 80 % notice too
            changed = rows.filter(notified_100_at=None).update(
                notified_100_at=now, notified_80_at=Coalesce("notified_80_at", now))
        else:
            changed = rows.filter(notified_80_at=None, notified_100_at=None).update(
                notified_80_at=now)
        if changed != 1:
            return False
        app = App.objects.select_related("workspace").get(pk=app.pk)
        _email_admins(app, month, level, used, cap)
        transaction.on_commit(lambda: cap_notice.send(sender=App, app=app, level=level,
                                                      used=used, cap=cap))
    return True


def _email_admins(app: App, month: date, level: int, used: int, cap: int) -> None:
    from .services import queue_email_text

    recipients = (Membership.objects.filter(workspace=app.workspace_id,
                                            role__in=[Role.ADMIN, Role.OWNER],
                                            user__is_active=True)
                  .select_related("user").order_by("user__email"))
    path = reverse("app-detail", args=[app.workspace.public_id, app.public_id])
    url = f"{getattr(settings, 'SITE_URL', '').rstrip('/')}{path}"
    subject = (f"{app.name} reached its monthly credit cap" if level == 100
               else f"{app.name} used 80% of its monthly credit cap")
    context = {"app": app, "workspace": app.workspace, "level": level, "used": used,
               "cap": cap, "month": month, "resets": next_month(month), "url": url}
    for membership in recipients:
        body = render_to_string("emails/app_credit_cap.txt",
                                {**context, "recipient": membership.user})
        queue_email_text(membership.user.email, subject, body)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


@dataclass(frozen=True)
class UsageSummary:
    """This month's use of an app, as the app page and the admin API show it."""

    month: date
    used: int
    cap: int | None
    notified_80_at: datetime | None
    notified_100_at: datetime | None

    @property
    def percent(self) -> int | None:
        return None if not self.cap else min(100, self.used * 100 // self.cap)

    @property
    def remaining(self) -> int | None:
        return None if self.cap is None else max(self.cap - self.used, 0)

    @property
    def level(self) -> int | None:
        return level_for(self.used, self.cap)

    @property
    def resets_on(self) -> date:
        return next_month(self.month)


def usage_summary(app: App) -> UsageSummary:
    month = month_start()
    row = AppCreditUsage.objects.filter(app_id=app.pk, month=month).first()
    return UsageSummary(month=month, used=row.used if row else 0, cap=app.monthly_credit_cap,
                        notified_80_at=row.notified_80_at if row else None,
                        notified_100_at=row.notified_100_at if row else None)


def used_this_month(apps: Any) -> dict[int, int]:
    """app pk -> credits used this month, for a list of apps in one query."""
    rows = AppCreditUsage.objects.filter(Q(app__in=apps), month=month_start())
    return dict(rows.values_list("app_id", "used"))
