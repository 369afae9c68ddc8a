"""The credit ledger: append-only entries, a balance row kept in step under a row lock.

`charge` and `award` are what other apps call. Both are idempotent by key: calling twice with
the same key returns the first entry and changes nothing. On PostgreSQL the balance row is
locked with SELECT ... FOR UPDATE, so concurrent processes never lose or double an update.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .models import CreditAccount, CreditEntry, Workspace


class InsufficientCredits(Exception):
    def __init__(self, balance: int, needed: int) -> None:
        super().__init__(f"Not enough credits: {balance} left, {needed} needed.")
        self.balance = balance
        self.needed = needed


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


def _reference(reference: Any) -> tuple[str, str]:
    """(reference_type, reference_id) recorded on an entry for the object that caused it."""
    if reference is None:
        return "", ""
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
               actor: Any = None, allow_negative: bool = True) -> CreditEntry | None:
    """One statement (atomic on its own): the balance update and the entry, or nothing.
    Returns None when it did not apply (no account row yet, or not enough credits)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None
    ref_type, ref_id = _reference(reference)
    params = {"amount": amount, "workspace": workspace.pk, "allow_negative": allow_negative,
              "kind": kind, "reason": reason[:200], "ref_type": ref_type, "ref_id": ref_id,
              "ref_url": reference_url, "key": idempotency_key, "now": timezone.now(),
              "actor": actor.pk if getattr(actor, "is_authenticated", False) else None}
    try:
        with connection.cursor() as cursor:
            cursor.execute(_FAST_SQL, params)
            row = cursor.fetchone()
    except IntegrityError as error:
        return _existing(idempotency_key, error)
    if row is None:
        return None
    entry = CreditEntry(pk=row[0], workspace=workspace, kind=kind, amount=amount,
                        balance_after=row[1], reason=reason[:200], reference_type=ref_type,
                        reference_id=ref_id, reference_url=reference_url,
                        idempotency_key=idempotency_key, created_at=params["now"],
                        created_by_id=params["actor"])
    entry._state.adding = False  # it is in the database, as if loaded from it
    entry._state.db = connection.alias
    return entry


def _post(
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
) -> CreditEntry:
    fast = _fast_post(workspace, kind=kind, amount=amount, reason=reason,
                      idempotency_key=idempotency_key, reference=reference,
                      reference_url=reference_url, actor=actor, allow_negative=allow_negative)
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
            if not allow_negative and account.balance + amount < 0:
                raise InsufficientCredits(account.balance, -amount)
            account.balance += amount
            account.save(update_fields=["balance"])
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
            )
    except IntegrityError as error:
        # This key was written before (or by another process just now): its entry is the answer.
        return _existing(idempotency_key, error)
    except InsufficientCredits:
        existing = CreditEntry.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:  # a repeat of a charge that was made while credits were left
            return existing
        raise


def charge(workspace: Workspace, amount: int, *, reason: str, idempotency_key: str,
           reference: Any = None, actor: Any = None, app: Any = None) -> CreditEntry:
    """Spend credits; raises InsufficientCredits (and records nothing) when the balance is short."""
    if amount <= 0:
        raise ValueError("A charge must be a positive number of credits.")
    return _post(workspace, kind=CreditEntry.Kind.USAGE, amount=-amount, reason=reason,
                 idempotency_key=idempotency_key, reference=reference, actor=actor,
                 allow_negative=False)


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
           reference: Any = None, actor: Any = None) -> CreditEntry:
    return _post(workspace, kind=CreditEntry.Kind.REFUND, amount=abs(amount), reason=reason,
                 idempotency_key=idempotency_key, reference=reference, actor=actor)


def adjust(workspace: Workspace, amount: int, *, reason: str, idempotency_key: str,
           actor: Any = None) -> CreditEntry:
    return _post(workspace, kind=CreditEntry.Kind.ADJUSTMENT, amount=amount, reason=reason,
                 idempotency_key=idempotency_key, actor=actor)
