"""The credit ledger: append-only entries, a balance row kept in step under a row lock.

`charge` and `award` are what other apps call. Both are idempotent by key: calling twice with
the same key returns the first entry and changes nothing. On PostgreSQL the balance row is
locked with SELECT ... FOR UPDATE, so concurrent processes never lose or double an update.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from .models import CreditAccount, CreditEntry, Workspace


class InsufficientCredits(Exception):
    def __init__(self, balance: int, needed: int) -> None:
        super().__init__(f"Not enough credits: {balance} left, {needed} needed.")
        self.balance = balance
        self.needed = needed


def balance(workspace: Workspace) -> int:
    account, _ = CreditAccount.objects.get_or_create(workspace=workspace)
    return account.balance


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
    existing = CreditEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            CreditAccount.objects.get_or_create(workspace=workspace)
            account = CreditAccount.objects.select_for_update().get(workspace=workspace)
            if not allow_negative and account.balance + amount < 0:
                raise InsufficientCredits(account.balance, -amount)
            account.balance += amount
            account.save(update_fields=["balance"])
            ref_type = ref_id = ""
            if reference is not None:
                ref_type = reference._meta.label_lower
                ref_id = str(getattr(reference, "public_id", None) or reference.pk)
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
    except IntegrityError:
        # Another process wrote the same idempotency key first; its entry is the answer.
        return CreditEntry.objects.get(idempotency_key=idempotency_key)


def charge(workspace: Workspace, amount: int, *, reason: str, idempotency_key: str,
           reference: Any = None, actor: Any = None) -> CreditEntry:
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
