"""Concurrent replaces of one secret on PostgreSQL: versions stay sequential and unique."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from secrets_vault import services as vault
from secrets_vault.models import Secret, SecretVersion


@pytest.mark.postgres
def test_concurrent_replaces_serialise(transactional_db, personas):
    ws = personas.workspace
    vault.set_secret(ws, "RACE", "v0", actor=personas.owner)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(5):
                vault.set_secret(ws, "RACE", f"w{n}-{i}", actor=personas.owner)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    secret = Secret.objects.get(name="RACE")
    assert secret.version == 21
    versions = sorted(SecretVersion.objects.filter(secret=secret).values_list("version",
                                                                             flat=True))
    assert versions == list(range(1, 22))


def _run(workers: int, job) -> list[BaseException]:  # type: ignore[no-untyped-def]
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            job(n)
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


@pytest.mark.postgres
def test_app_secret_locks_on_postgres(transactional_db, personas):
    """App-scoped rows go through the same `select_for_update(of=self)` + `select_related` on
    the nullable app FK (an outer join PostgreSQL refuses to lock without OF). Concurrent
    replaces and a delete of the app secret, and a workspace secret of the same name beside it,
    all work and stay consistent."""
    ws, app = personas.workspace, personas.app
    vault.set_secret(ws, "RACE", "ws-0", actor=personas.owner)
    vault.set_secret(ws, "RACE", "app-0", actor=personas.owner, app=app)

    def job(n: int) -> None:
        for i in range(4):
            vault.set_secret(ws, "RACE", f"app-{n}-{i}", actor=personas.admin, app=app)
            vault.set_secret(ws, "RACE", f"ws-{n}-{i}", actor=personas.admin)

    assert _run(3, job) == []
    app_secret = Secret.objects.get(name="RACE", app=app)
    ws_secret = Secret.objects.get(name="RACE", app=None)
    assert (app_secret.version, ws_secret.version) == (13, 13)
    assert sorted(app_secret.versions.values_list("version", flat=True)) == list(range(1, 14))
    vault.delete_secret(app_secret, actor=personas.owner)
    assert vault.resolve_value(ws, "RACE", app).startswith("ws-")


@pytest.mark.postgres
def test_concurrent_creates_of_one_name_on_postgres(transactional_db, personas):
    """Two admins creating the same app secret at once: one wins, the other gets a clear
    error (never a 500 or a duplicate row)."""
    ws, app = personas.workspace, personas.app
    outcomes: list[str] = []

    def job(n: int) -> None:
        try:
            vault.create_secret(ws, "ONCE", f"v{n}", actor=personas.admin, app=app)
            outcomes.append("created")
        except vault.VaultError as exc:
            assert exc.code in ("duplicate", "conflict") and exc.field == "name"
            outcomes.append(exc.code)

    assert _run(4, job) == []
    assert outcomes.count("created") == 1 and len(outcomes) == 4
    assert Secret.objects.filter(name="ONCE").count() == 1


@pytest.mark.postgres
def test_custom_api_edits_lock_on_postgres(transactional_db, personas):
    """update_custom_api locks the row (select_related on the nullable app FK) and the
    workspace; concurrent renames into the same variable: exactly one succeeds."""
    ws = personas.workspace
    apis = [vault.create_custom_api(ws, actor=personas.owner, name=f"Api {n}",
                                    auth_type="bearer", credential="t", app=personas.app)
            for n in range(3)]
    outcomes: list[str] = []

    def job(n: int) -> None:
        try:
            vault.update_custom_api(apis[n], actor=personas.admin, name="Same Name", app=None)
            outcomes.append("renamed")
        except vault.VaultError as exc:
            assert "Same Name" in exc.message
            outcomes.append("refused")

    assert _run(3, job) == []
    assert sorted(outcomes) == ["refused", "refused", "renamed"]
    from secrets_vault.models import CustomApi

    assert CustomApi.objects.filter(env_var="CUSTOM_API_SAME_NAME").count() == 1
