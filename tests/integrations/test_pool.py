"""The bounded PostgreSQL pool: with far more calls waiting on upstreams than pool
connections, every call succeeds, and PostgreSQL (pg_stat_activity) never sees more
connections from the portal than the pool allows. The proxy hands its connection back while
it waits for the upstream (integrations.runtime.release_db_connection)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.db import connection

from integrations.models import CallLog
from tests.integrations import load_support as ps
from tests.integrations.calllog_support import wait_for_rows
from tests.integrations.egress_support import Upstream
from workspaces.models import CreditEntry

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

POOL = 2
CALLS = 16
PORTAL_APP_NAME = "switchboard-pool-test-portal"


@pytest.fixture(scope="module")
def gate() -> ps.Gate:
    return ps.Gate()


@pytest.fixture(scope="module")
def upstream(gate: ps.Gate) -> Iterator[Upstream]:
    up = Upstream(routes={"/api/hang": gate.route})
    yield up
    gate.open()
    up.close()


@pytest.fixture(scope="module")
def portal(django_db_setup: Any, django_db_blocker: Any, upstream: Upstream,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {"DB_POOL_MAX_SIZE": str(POOL), "DB_POOL_MIN_SIZE": "1",
           "DB_POOL_TIMEOUT_SECONDS": "3",
           "PGAPPNAME": PORTAL_APP_NAME}  # libpq names the portal's connections
    with ps.portal(django_db_blocker, log, upstream, env, workers=1) as url:
        yield url


class Watcher:
    """Samples pg_stat_activity: the most backends of the portal (by application name) on the
    test database at once."""

    def __init__(self) -> None:
        db = connection.settings_dict
        self.dsn = (f"host={db['HOST']} port={db['PORT']} user={db['USER']} dbname=postgres"
                    + (f" password={db['PASSWORD']}" if db.get("PASSWORD") else ""))
        self.name = db["NAME"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.mine = {cursor.fetchone()[0]}
        self.peak = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set():
                # only the portal's own backends: not autovacuum, not this test's threads
                rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s"
                                    " AND application_name = %s",
                                    (self.name, PORTAL_APP_NAME)).fetchall()
                self.peak = max(self.peak, len({r[0] for r in rows} - self.mine))
                self.stop.wait(0.02)


def test_more_waiting_calls_than_pool_connections_all_succeed(portal: str, upstream: Upstream,
                                                              gate: ps.Gate) -> None:
    caller = ps.make_caller(upstream)
    watcher = Watcher()
    watcher.thread.start()
    calls = ps.Background()
    try:
        for _ in range(CALLS):
            calls.start(ps.call, portal, caller)
        gate.wait_active(CALLS)  # all of them wait on the upstream at the same time
        gate.open()
        calls.join()
    finally:
        watcher.stop.set()
        watcher.thread.join(5)
    assert not calls.errors
    assert [r[0] for r in calls.results] == [200] * CALLS, calls.results[:3]
    assert all(r[2]["success"] is True for r in calls.results)
    assert 1 <= watcher.peak <= POOL, f"PostgreSQL saw {watcher.peak} portal connections"
    # every call was charged once and logged as answered
    rows = wait_for_rows(CallLog.objects.filter(app=caller.app), CALLS)  # after the answers
    assert rows.count() == CALLS
    assert set(rows.values_list("phase", flat=True)) == {CallLog.Phase.RESPONDED}
    charged = CreditEntry.objects.filter(workspace=caller.workspace, amount__lt=0)
    assert charged.count() == CALLS
