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
    page1 = client.get(f"/w/{ws.public_id}/credits/").content.decode()
    assert "1,970" in page1
    assert page1.index("call #29") < page1.index("call #28")
    assert "call #0" not in page1
    page2 = client.get(f"/w/{ws.public_id}/credits/?page=2").content.decode()
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
