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
