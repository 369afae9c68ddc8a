"""Per-app caps are exact under concurrency, on PostgreSQL, in both ledger paths: the
one-statement fast path (autocommit) and the locked path (inside a transaction); through the
real proxy too (8 threads x 5 calls against a cap of 25: exactly 25 charged and sent). The
80 %/100 % notices go out once however many calls cross the line together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from integrations.models import CallLog
from tests.integrations import proxy_support
from tests.integrations.proxy_support import call_url, make_integration
from workspaces import credits, services
from workspaces.credits import AppCreditCapReached, month_start
from workspaces.models import App, AppCreditUsage, CreditEntry, EmailMessage

_fresh_proxy_state = proxy_support._fresh_proxy_state
egress_open = proxy_support.egress_open
upstream = proxy_support.upstream

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def set_cap(app: App, cap: int | None) -> None:
    App.objects.filter(pk=app.pk).update(monthly_credit_cap=cap)
    app.refresh_from_db()


def usage(app: App) -> AppCreditUsage:
    return AppCreditUsage.objects.get(app=app, month=month_start())


def in_threads(work: Callable[[int], list[str]], threads: int = 8) -> list[str]:
    start = threading.Barrier(threads)

    def run(n: int) -> list[str]:
        start.wait()
        try:
            return work(n)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(threads) as pool:
        return [r for batch in pool.map(run, range(threads)) for r in batch]


def charge_once(app: App, key: str, amount: int = 1, *, locked: bool = False) -> str:
    try:
        if locked:  # inside a transaction: the locked (SELECT ... FOR UPDATE) path
            with transaction.atomic():
                credits.charge(app.workspace, amount, reason="t", idempotency_key=key, app=app)
        else:
            assert not connection.in_atomic_block
            credits.charge(app.workspace, amount, reason="t", idempotency_key=key, app=app)
    except AppCreditCapReached:
        return "cap"
    except credits.InsufficientCredits:
        return "balance"
    return "ok"


@pytest.mark.parametrize("locked", [False, True], ids=["fast-path", "locked-path"])
def test_the_ledger_is_exact_at_the_cap_under_concurrency(personas, locked):
    app = personas.app
    set_cap(app, 25)
    results = in_threads(lambda n: [charge_once(app, f"{n}-{i}", locked=locked)
                                    for i in range(5)])
    assert results.count("ok") == 25 and results.count("cap") == 15
    assert usage(app).used == 25
    assert credits.balance(personas.workspace) == 1975
    assert CreditEntry.objects.filter(kind="usage").count() == 25
    # each notice once, to the owner and the admin
    subjects = sorted(EmailMessage.objects.values_list("subject", flat=True))
    assert subjects == ["Storefront reached its monthly credit cap"] * 2 + [
        "Storefront used 80% of its monthly credit cap"] * 2


def test_uneven_charges_never_pass_the_cap(personas):
    app = personas.app
    set_cap(app, 50)
    results = in_threads(lambda n: [charge_once(app, f"{n}-{i}", amount=1 + (n + i) % 3)
                                    for i in range(6)])
    spent = -sum(CreditEntry.objects.filter(kind="usage").values_list("amount", flat=True))
    assert 48 <= spent <= 50 and usage(app).used == spent  # at most 2 short: a 3 can't fit
    assert credits.balance(personas.workspace) == 2000 - spent
    assert results.count("ok") == CreditEntry.objects.filter(kind="usage").count()


def test_a_small_balance_and_a_cap_together_stay_exact(personas):
    """The balance runs out before the cap: the usage counts only what was charged."""
    app = personas.app
    credits.adjust(personas.workspace, 10 - credits.balance(personas.workspace), reason="t",
                   idempotency_key="setup")
    set_cap(app, 25)
    results = in_threads(lambda n: [charge_once(app, f"{n}-{i}") for i in range(5)])
    assert results.count("ok") == 10 and results.count("balance") == 30
    assert usage(app).used == 10 and credits.balance(personas.workspace) == 0


def test_charges_and_refunds_together_neither_deadlock_nor_drift(personas):
    app = personas.app
    set_cap(app, 1000)

    def work(n: int) -> list[str]:
        out = []
        for i in range(10):
            out.append(charge_once(app, f"{n}-{i}", locked=bool(i % 2)))
            if n % 2:
                credits.refund(app.workspace, 1, reason="r", idempotency_key=f"{n}-{i}:r",
                               app=app)
        return out

    results = in_threads(work)
    assert results.count("ok") == 80
    assert usage(app).used == 40  # 80 charged, 40 given back
    assert credits.balance(personas.workspace) == 1960


def test_a_capped_charge_is_one_statement(personas):
    set_cap(personas.app, 100)
    credits.charge(personas.workspace, 1, reason="t", idempotency_key="warm", app=personas.app)
    with CaptureQueriesContext(connection) as queries:
        entry = credits.charge(personas.workspace, 1, reason="t", idempotency_key="one",
                               app=personas.app)
    assert len(queries) == 1 and entry.balance_after == 1998
    assert usage(personas.app).used == 2


def test_the_fast_path_over_the_cap_records_nothing(personas):
    set_cap(personas.app, 3)
    credits.charge(personas.workspace, 2, reason="t", idempotency_key="a", app=personas.app)
    with pytest.raises(AppCreditCapReached):
        credits.charge(personas.workspace, 2, reason="t", idempotency_key="b", app=personas.app)
    again = credits.charge(personas.workspace, 2, reason="t", idempotency_key="a",
                           app=personas.app)  # a repeat is still the first charge
    assert again.amount == -2 and usage(personas.app).used == 2
    assert credits.balance(personas.workspace) == 1998
    credits.refund(personas.workspace, 2, reason="r", idempotency_key="a:r", app=personas.app)
    assert usage(personas.app).used == 0


def test_the_proxy_is_exact_at_the_cap(personas, upstream, egress_open):
    """40 calls from 8 threads (8 database connections) against a cap of 25."""
    make_integration(personas.workspace, upstream.url("/v1"))
    app = personas.app
    set_cap(app, 25)
    _, raw = services.create_service_token(app, actor=personas.owner, name="load")

    def work(n: int) -> list[Any]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        out = []
        for _ in range(5):
            r = client.post(call_url(app.public_id, "pets", "get:/pets"), {}, format="json")
            out.append(r.status_code if r.status_code != 402 else r.json()["code"])
        return out

    statuses = in_threads(work)
    assert statuses.count(200) == 25 and statuses.count("app_credit_cap_reached") == 15
    assert len(upstream.seen) == 25
    assert credits.balance(personas.workspace) == 1975 and usage(app).used == 25
    assert sum(CallLog.objects.values_list("credits", flat=True)) == 25
    assert EmailMessage.objects.filter(subject__contains="reached").count() == 2
