"""The credit ledger: append-only entries, a balance row kept in step under a row lock.

`charge` and `award` are what other apps call. Both are idempotent by key: calling twice with
the same key returns the first entry and changes nothing. On PostgreSQL the balance row is
locked with SELECT ... FOR UPDATE, so concurrent processes never lose or double an update.

A charge made for an app (`charge(..., app=app)`) also counts in the app's usage of the
current UTC month (`AppCreditUsage`, created as needed), whether or not the app has a monthly
cap, so a cap set mid-month starts from the truth. With a cap, the charge and the usage change
together or not at all: over the cap it raises `AppCreditCapReached` (an `InsufficientCredits`)
and records nothing. `refund(..., app=app)` gives the usage back. Lock order, every path: the
balance row, then the usage row (no deadlock between a charge and a refund).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .models import AppCreditUsage, CreditAccount, CreditEntry, Workspace


class InsufficientCredits(Exception):
    def __init__(self, balance: int, needed: int) -> None:
        super().__init__(f"Not enough credits: {balance} left, {needed} needed.")
        self.balance = balance
        self.needed = needed


class AppCreditCapReached(InsufficientCredits):
    """The app's monthly credit cap would be exceeded (the proxy and callApi answer 402 with
    ``extra_data.reason = reason``)."""

    reason = "app_credit_cap_reached"

    def __init__(self, app: Any, cap: int, used: int, needed: int) -> None:
        super().__init__(max(cap - used, 0), needed)
        self.app = app
        self.cap = cap
        self.used = used
        self.message = (f"This app has reached its monthly credit cap of {cap:,} credits "
                        f"({used:,} used this month, {needed:,} needed). Calls resume next "
                        "month, or when a workspace admin raises the cap.")
        self.args = (self.message,)


def month_start(now: Any = None) -> Any:
    """The first day of the current UTC month: the key of an app's monthly usage row."""
    return (now or timezone.now()).astimezone(UTC).date().replace(day=1)


@dataclass(frozen=True)
class CapState:
    """An app's usage after a charge, for the 80 %/100 % notices (app_caps.after_charge)."""

    month: Any
    used: int
    cap: int | None
    notified_80: bool
    notified_100: bool


def balance(workspace: Workspace) -> int:
    account, _ = CreditAccount.objects.get_or_create(workspace=workspace)
    return account.balance


_FAST_SQL = """
WITH account AS (
    UPDATE workspaces_creditaccount SET balance = balance + %(amount)s
    WHERE workspace_id = %(workspace)s AND (%(allow_negative)s OR balance + %(amount)s >= 0)
    RETURNING balance
)
INSERT INTO workspaces_creditentry (workspace_id, kind, amount, balance_after, reason,
    reference_type, reference_id, reference_url, idempotency_key, created_at, created_by_id)
SELECT %(workspace)s, %(kind)s, %(amount)s, account.balance, %(reason)s, %(ref_type)s,
    %(ref_id)s, %(ref_url)s, %(key)s, %(now)s, %(actor)s FROM account
RETURNING id, balance_after
"""

# A charge for an app, one statement: the balance row is locked first (`locked`), then the
# app's usage row of the month is inserted or incremented only while the balance covers the
# charge and the cap (read from the app row now, never a cached copy) allows it: ON CONFLICT's
# WHERE is evaluated on the latest, locked version of the row, so concurrent charges of one
# app never pass the cap together. The balance update and the entry happen only when the
# usage changed; when nothing applied no row comes back (the locked path then says why).
_APP_CHARGE_SQL = """
WITH cap AS (
    SELECT monthly_credit_cap AS cap FROM workspaces_app WHERE id = %(app)s
), locked AS (
    SELECT balance FROM workspaces_creditaccount WHERE workspace_id = %(workspace)s FOR UPDATE
), usage AS (
    INSERT INTO workspaces_appcreditusage AS u (app_id, month, used)
    SELECT %(app)s, %(month)s, %(spend)s FROM locked, cap
    WHERE locked.balance + %(amount)s >= 0 AND (cap.cap IS NULL OR %(spend)s <= cap.cap)
    ON CONFLICT (app_id, month) DO UPDATE SET used = u.used + EXCLUDED.used
    WHERE (SELECT cap FROM cap) IS NULL OR u.used + EXCLUDED.used <= (SELECT cap FROM cap)
    RETURNING u.used, u.notified_80_at IS NOT NULL AS n80, u.notified_100_at IS NOT NULL AS n100
), account AS (
    UPDATE workspaces_creditaccount SET balance = balance + %(amount)s
    WHERE workspace_id = %(workspace)s AND balance + %(amount)s >= 0
      AND EXISTS (SELECT 1 FROM usage)
    RETURNING balance
), entry AS (
    INSERT INTO workspaces_creditentry (workspace_id, kind, amount, balance_after, reason,
        reference_type, reference_id, reference_url, idempotency_key, created_at, created_by_id)
    SELECT %(workspace)s, %(kind)s, %(amount)s, account.balance, %(reason)s, %(ref_type)s,
        %(ref_id)s, %(ref_url)s, %(key)s, %(now)s, %(actor)s FROM account
    RETURNING id, balance_after
)
SELECT entry.id, entry.balance_after, usage.used, usage.n80, usage.n100, cap.cap
FROM entry, usage, cap
"""

# A refund for an app, one statement: the balance first, then the month's usage given back
# (never below zero; no usage row: nothing to give back).
_APP_REFUND_SQL = """
WITH account AS (
    UPDATE workspaces_creditaccount SET balance = balance + %(amount)s
    WHERE workspace_id = %(workspace)s
    RETURNING balance
), usage AS (
    UPDATE workspaces_appcreditusage SET used = GREATEST(used - %(amount)s, 0)
    WHERE app_id = %(app)s AND month = %(month)s AND EXISTS (SELECT 1 FROM account)
    RETURNING used
)
INSERT INTO workspaces_creditentry (workspace_id, kind, amount, balance_after, reason,
    reference_type, reference_id, reference_url, idempotency_key, created_at, created_by_id)
SELECT %(workspace)s, %(kind)s, %(amount)s, account.balance, %(reason)s, %(ref_type)s,
    %(ref_id)s, %(ref_url)s, %(key)s, %(now)s, %(actor)s FROM account
RETURNING id, balance_after
"""


def _reference(reference: Any) -> tuple[str, str]:
    """(reference_type, reference_id) recorded on an entry for the object that caused it."""
    if reference is None:
        return "", ""
    if isinstance(reference, tuple):  # already (label, id), e.g. from a cached row
        return reference
    return (reference._meta.label_lower,
            str(getattr(reference, "public_id", None) or reference.pk))


def _existing(idempotency_key: str, error: IntegrityError) -> CreditEntry:
    """The entry a unique-key violation ran into; any other integrity error is raised."""
    entry = CreditEntry.objects.filter(idempotency_key=idempotency_key).first()
    if entry is None:
        raise error
    return entry


def _fast_post(workspace: Workspace, *, kind: str, amount: int, reason: str,
               idempotency_key: str, reference: Any = None, reference_url: str = "",
               actor: Any = None, allow_negative: bool = True, app: Any = None,
               month: Any = None) -> tuple[CreditEntry, CapState | None] | None:
    """One statement (atomic on its own): the balance update and the entry (and, for an app,
    its month's usage), or nothing. Returns None when it did not apply (no account row yet,
    not enough credits, or the app's cap reached): the locked path then decides."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None
    ref_type, ref_id = _reference(reference)
    params = {"amount": amount, "workspace": workspace.pk, "allow_negative": allow_negative,
              "kind": kind, "reason": reason[:200], "ref_type": ref_type, "ref_id": ref_id,
              "ref_url": reference_url, "key": idempotency_key, "now": timezone.now(),
              "actor": actor.pk if getattr(actor, "is_authenticated", False) else None}
    sql = _FAST_SQL
    if app is not None:
        params.update(app=app.pk, month=month, spend=-amount)
        sql = _APP_CHARGE_SQL if amount < 0 else _APP_REFUND_SQL
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    except IntegrityError as error:
        return _existing(idempotency_key, error), None
    if row is None:
        return None
    entry = CreditEntry(pk=row[0], workspace=workspace, kind=kind, amount=amount,
                        balance_after=row[1], reason=reason[:200], reference_type=ref_type,
                        reference_id=ref_id, reference_url=reference_url,
                        idempotency_key=idempotency_key, created_at=params["now"],
                        created_by_id=params["actor"])
    entry._state.adding = False  # it is in the database, as if loaded from it
    entry._state.db = connection.alias
    state = None
    if app is not None and amount < 0:
        state = CapState(month=month, used=row[2], notified_80=row[3], notified_100=row[4],
                         cap=row[5])
    return entry, state


def _locked_usage(app: Any, month: Any, *, create: bool) -> AppCreditUsage | None:
    """The app's usage row of `month`, locked, with the app's current cap loaded alongside
    (one query when the row exists; called with the balance row locked, so creating it
    cannot race another charge of this workspace)."""
    def locked() -> AppCreditUsage | None:
        return (AppCreditUsage.objects.select_related("app").select_for_update(of=("self",))
                .filter(app_id=app.pk, month=month).first())

    usage = locked()
    if usage is None and create:
        AppCreditUsage.objects.get_or_create(app_id=app.pk, month=month)
        usage = locked()
    return usage


def _post(workspace: Workspace, *, kind: str, amount: int, reason: str, idempotency_key: str,
          reference: Any = None, reference_url: str = "", actor: Any = None,
          allow_negative: bool = True, app: Any = None, month: Any = None) -> CreditEntry:
    return _post_counted(workspace, kind=kind, amount=amount, reason=reason,
                         idempotency_key=idempotency_key, reference=reference,
                         reference_url=reference_url, actor=actor,
                         allow_negative=allow_negative, app=app, month=month)[0]


def _post_counted(
    workspace: Workspace,
    *,
    kind: str,
    amount: int,
    reason: str,
    idempotency_key: str,
    reference: Any = None,
    reference_url: str = "",
    actor: Any = None,
    allow_negative: bool = True,
    app: Any = None,
    month: Any = None,
) -> tuple[CreditEntry, CapState | None]:
    """The entry, and for a charge made for an app the app's usage after it (None for a repeat
    of an earlier charge, or anything else)."""
    if app is None:
        month = None
    elif month is None:
        month = month_start()
    fast = _fast_post(workspace, kind=kind, amount=amount, reason=reason,
                      idempotency_key=idempotency_key, reference=reference,
                      reference_url=reference_url, actor=actor, allow_negative=allow_negative,
                      app=app, month=month)
    if fast is not None:
        return fast
    # One transaction, no read-before-write: the row lock is taken by the first SELECT ...
    # FOR UPDATE, the account is created only when missing, and a repeated idempotency key is
    # caught by its unique constraint (the whole transaction, balance included, rolls back).
    # BEGIN, SELECT FOR UPDATE, UPDATE, INSERT, COMMIT: 5 round trips instead of 7.
    try:
        with transaction.atomic():
            try:
                account = CreditAccount.objects.select_for_update().get(workspace=workspace)
            except CreditAccount.DoesNotExist:
                CreditAccount.objects.get_or_create(workspace=workspace)
                account = CreditAccount.objects.select_for_update().get(workspace=workspace)
            usage = cap = None
            if app is not None:  # after the balance row: the one lock order
                usage = _locked_usage(app, month, create=amount < 0)
                cap = usage.app.monthly_credit_cap if usage is not None else None
                if amount < 0 and cap is not None and usage.used - amount > cap:
                    raise AppCreditCapReached(app, cap, usage.used, -amount)
            if not allow_negative and account.balance + amount < 0:
                raise InsufficientCredits(account.balance, -amount)
            account.balance += amount
            account.save(update_fields=["balance"])
            state = None
            if usage is not None:
                usage.used = max(usage.used - amount, 0)
                usage.save(update_fields=["used"])
                if amount < 0:
                    state = CapState(month=month, used=usage.used, cap=cap,
                                     notified_80=usage.notified_80_at is not None,
                                     notified_100=usage.notified_100_at is not None)
            ref_type, ref_id = _reference(reference)
            return CreditEntry.objects.create(
                workspace=workspace,
                kind=kind,
                amount=amount,
                balance_after=account.balance,
                reason=reason[:200],
                reference_type=ref_type,
                reference_id=ref_id,
                reference_url=reference_url,
                idempotency_key=idempotency_key,
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
            ), state
    except IntegrityError as error:
        # This key was written before (or by another process just now): its entry is the answer.
        return _existing(idempotency_key, error), None
    except InsufficientCredits:
        existing = CreditEntry.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:  # a repeat of a charge that was made while credits were left
            return existing, None
        raise


def charge(workspace: Workspace, amount: int, *, reason: str, idempotency_key: str,
           reference: Any = None, actor: Any = None, app: Any = None) -> CreditEntry:
    """Spend credits; raises InsufficientCredits (and records nothing) when the balance is short,
    AppCreditCapReached when `app`'s monthly cap would be exceeded. For an app, its month's
    usage grows with the charge, and crossing 80 % / 100 % of its cap notifies the admins."""
    if amount <= 0:
        raise ValueError("A charge must be a positive number of credits.")
    try:
        entry, state = _post_counted(
            workspace, kind=CreditEntry.Kind.USAGE, amount=-amount, reason=reason,
            idempotency_key=idempotency_key, reference=reference, actor=actor,
            allow_negative=False, app=app)
    except AppCreditCapReached as exc:
        from . import app_caps

        app_caps.after_refusal(app, exc)
        raise
    if state is not None and state.cap is not None:
        from . import app_caps

        app_caps.after_charge(app, state)
    return entry


def award(workspace: Workspace, amount: int, *, reason: str, idempotency_key: str,
          reference: Any = None, reference_url: str = "", actor: Any = None) -> CreditEntry:
    if amount <= 0:
        raise ValueError("An award must be a positive number of credits.")
    return _post(workspace, kind=CreditEntry.Kind.AWARD, amount=amount, reason=reason,
                 idempotency_key=idempotency_key, reference=reference,
                 reference_url=reference_url, actor=actor)


def grant(workspace: Workspace, amount: int, *, reason: str, idempotency_key: str) -> CreditEntry:
    return _post(workspace, kind=CreditEntry.Kind.GRANT, amount=amount, reason=reason,
                 idempotency_key=idempotency_key)


def refund(workspace: Workspace, amount: int, *, reason: str, idempotency_key: str,
           reference: Any = None, actor: Any = None, app: Any = None,
           charged_at: Any = None) -> CreditEntry:
    """Give credits back; with the `app` of the charge, its usage too: of the month the charge
    was made in (`charged_at`, the charge entry's created_at; default now), so a call charged
    just before midnight on the last day of a month and refunded after it gives back what
    that month counted, not what the new one has."""
    return _post(workspace, kind=CreditEntry.Kind.REFUND, amount=abs(amount), reason=reason,
                 idempotency_key=idempotency_key, reference=reference, actor=actor, app=app,
                 month=month_start(charged_at) if charged_at is not None else None)


def adjust(workspace: Workspace, amount: int, *, reason: str, idempotency_key: str,
           actor: Any = None) -> CreditEntry:
    return _post(workspace, kind=CreditEntry.Kind.ADJUSTMENT, amount=amount, reason=reason,
                 idempotency_key=idempotency_key, actor=actor)
