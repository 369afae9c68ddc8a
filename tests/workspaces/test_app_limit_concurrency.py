"""The plan's app limit holds when two requests create the last allowed app at the same time
(PostgreSQL: the workspace row is locked while counting)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from workspaces import services
from workspaces.models import App
from workspaces.plans import limits


@pytest.mark.postgres
def test_two_creates_racing_for_the_last_app_slot_make_one_app(transactional_db, personas,
                                                                monkeypatch):
    ws = personas.workspace
    for i in range(limits(ws).max_apps - App.objects.filter(workspace=ws).count() - 1):
        services.create_app(ws, actor=personas.owner, name=f"Filler {i}")
    # Both requests have counted before either inserts, unless the count is serialised: then
    # the second waits for the first to commit, the barrier times out, and it counts again.
    barrier = threading.Barrier(2, timeout=3)
    create = App.objects.create

    def create_after_both_counted(**kwargs):  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        return create(**kwargs)

    monkeypatch.setattr(App.objects, "create", create_after_both_counted)
    outcomes: list[object] = []

    def attempt(n: int) -> None:
        try:
            outcomes.append(services.create_app(ws, actor=personas.owner, name=f"Racer {n}"))
        except services.ServiceError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert App.objects.filter(workspace=ws).count() == limits(ws).max_apps
    assert sorted(o if isinstance(o, str) else "created" for o in outcomes) == ["created", "plan"]
