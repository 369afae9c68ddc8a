from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from django.conf import settings
from django.db import connection

from workspaces import credits
from workspaces.models import CreditEntry

pytestmark = pytest.mark.django_db


def test_new_workspace_gets_its_plan_grant(personas):
    assert credits.balance(personas.workspace) == 2000  # builder plan
    entry = CreditEntry.objects.get(workspace=personas.workspace)
    assert entry.kind == "grant" and entry.balance_after == 2000


def test_charge_award_and_idempotency(personas):
    ws = personas.workspace
    credits.charge(ws, 5, reason="call", idempotency_key="k1")
    credits.charge(ws, 5, reason="call", idempotency_key="k1")  # retried: no double charge
    credits.award(ws, 250, reason="award", idempotency_key="a1")
    credits.award(ws, 250, reason="award", idempotency_key="a1")
    assert credits.balance(ws) == 2000 - 5 + 250
    assert CreditEntry.objects.filter(workspace=ws).count() == 3


def test_charge_refuses_overdraft_and_records_nothing(personas):
    ws = personas.workspace
    with pytest.raises(credits.InsufficientCredits):
        credits.charge(ws, 2001, reason="big", idempotency_key="big")
    assert credits.balance(ws) == 2000
    assert not CreditEntry.objects.filter(idempotency_key="big").exists()


def test_balance_equals_sum_of_entries(personas):
    ws = personas.workspace
    for i in range(10):
        credits.charge(ws, i + 1, reason="c", idempotency_key=f"c{i}")
    total = sum(CreditEntry.objects.filter(workspace=ws).values_list("amount", flat=True))
    assert credits.balance(ws) == total == 2000 - 55


def test_credits_page_lists_newest_first_paginated(client, personas):
    ws = personas.workspace
    for i in range(30):
        credits.charge(ws, 1, reason=f"call #{i}", idempotency_key=f"p{i}")
    client.force_login(personas.member)
    page1 = client.get(f"/w/{ws.public_id}/credits/?view=ledger").content.decode()
    assert "1,970" in page1
    assert page1.index("call #29") < page1.index("call #28")
    assert "call #0" not in page1
    page2 = client.get(f"/w/{ws.public_id}/credits/?view=ledger&page=2").content.decode()
    assert "call #0" in page2


WORKER = textwrap.dedent("""
    import os, sys, django
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    django.setup()
    from django.db import connections
    from workspaces import credits
    from workspaces.models import Workspace
    ws = Workspace.objects.get(public_id=sys.argv[1])
    ok = short = 0
    for i in range(int(sys.argv[3])):
        try:
            credits.charge(ws, 1, reason="concurrent", idempotency_key=f"{sys.argv[2]}-{i}")
            ok += 1
        except credits.InsufficientCredits:
            short += 1
    print(ok, short)
""")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ledger_is_exact_under_concurrent_processes(personas):
    """4 processes charge 1 credit 150 times each against a balance of 500: exactly 500 succeed."""
    ws = personas.workspace
    credits.adjust(ws, 500 - credits.balance(ws), reason="set up", idempotency_key="setup")
    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": (
        f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}")}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, ws.public_id, f"p{n}", "150"],
                              stdout=subprocess.PIPE, text=True, env=env) for n in range(4)]
    results = [tuple(map(int, p.communicate(timeout=120)[0].split())) for p in procs]
    assert sum(ok for ok, _ in results) == 500
    assert sum(short for _, short in results) == 100
    assert credits.balance(ws) == 0
    usage = CreditEntry.objects.filter(workspace=ws, kind="usage")
    assert usage.count() == 500
    total = sum(CreditEntry.objects.filter(workspace=ws).values_list("amount", flat=True))
    assert total == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
class TestAutocommitFastPath:
    """Outside a transaction on PostgreSQL a post is one statement (balance update + entry);
    it must keep every rule of the locked path."""

    def test_repeated_key_changes_nothing(self, personas):
        ws = personas.workspace
        assert not connection.in_atomic_block
        first = credits.charge(ws, 3, reason="call", idempotency_key="fast-k1")
        again = credits.charge(ws, 3, reason="call", idempotency_key="fast-k1")
        assert again.pk == first.pk and first.balance_after == 1997
        assert credits.balance(ws) == 1997
        assert CreditEntry.objects.filter(idempotency_key="fast-k1").count() == 1

    def test_overdraft_is_refused_and_records_nothing(self, personas):
        ws = personas.workspace
        with pytest.raises(credits.InsufficientCredits):
            credits.charge(ws, 2001, reason="big", idempotency_key="fast-big")
        assert credits.balance(ws) == 2000
        assert not CreditEntry.objects.filter(idempotency_key="fast-big").exists()

    def test_a_repeat_after_the_money_ran_out_returns_the_first_charge(self, personas):
        ws = personas.workspace
        first = credits.charge(ws, 2000, reason="all of it", idempotency_key="fast-all")
        assert credits.charge(ws, 2000, reason="all of it", idempotency_key="fast-all") == first
        assert credits.balance(ws) == 0

    def test_a_workspace_without_an_account_row_gets_one(self, personas):
        from workspaces.models import CreditAccount

        ws = personas.workspace
        CreditAccount.objects.filter(workspace=ws).delete()
        entry = credits.award(ws, 7, reason="gift", idempotency_key="fast-gift")
        assert entry.balance_after == 7 and credits.balance(ws) == 7

    def test_the_entry_records_reference_and_actor(self, personas):
        ws = personas.workspace
        entry = credits.award(ws, 5, reason="award", idempotency_key="fast-ref",
                              reference=personas.app, reference_url="/x/", actor=personas.owner)
        stored = CreditEntry.objects.get(pk=entry.pk)
        assert (stored.kind, stored.amount, stored.balance_after) == ("award", 5, 2005)
        assert stored.reference_type == "workspaces.app"
        assert stored.reference_id == personas.app.public_id
        assert stored.reference_url == "/x/" and stored.created_by_id == personas.owner.pk
        assert stored.created_at is not None

    def test_a_charge_is_one_statement(self, personas):
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            credits.charge(personas.workspace, 1, reason="call", idempotency_key="fast-one")
        assert len(queries) == 1 and queries[0]["sql"].lstrip().startswith("WITH account AS")

    def test_the_returned_entry_behaves_as_saved(self, personas):
        entry = credits.charge(personas.workspace, 1, reason="call", idempotency_key="fast-saved")
        entry.reason = "call (edited)"
        entry.save()  # an UPDATE of the row, not a second INSERT
        assert CreditEntry.objects.get(idempotency_key="fast-saved").reason == "call (edited)"
        assert CreditEntry.objects.filter(idempotency_key="fast-saved").count() == 1
