"""`make run`'s import thread (eager tasks, INTEGRATIONS_IMPORT_MODE=thread): a database error
such as SQLite's "database table is locked" is retried, and an import that still can't finish
is marked failed with a message, never left running forever."""

from __future__ import annotations

import time

import pytest
from django.db import OperationalError

from integrations import services
from integrations.models import SpecImport
from integrations.services import imports
from tests.integrations.wizard_support import PETSTORE_30

pytestmark = pytest.mark.django_db(transaction=True)  # the thread has its own connection


def run_thread(pk: int) -> None:
    import threading

    thread = threading.Thread(target=imports._run_in_thread, args=(pk,))
    thread.start()
    thread.join(30)
    assert not thread.is_alive()


@pytest.fixture
def pending(personas, settings, monkeypatch):  # type: ignore[no-untyped-def]
    settings.INTEGRATIONS_IMPORT_MODE = "thread"
    monkeypatch.setattr(time, "sleep", lambda _s: None)
    with monkeypatch.context() as m:  # the test starts the import's thread itself
        m.setattr(imports, "_schedule_import", lambda _import: None)
        spec_import = services.import_pasted(personas.workspace, actor=personas.owner,
                                             text=PETSTORE_30.read_text())
    assert spec_import.status not in (SpecImport.Status.READY, SpecImport.Status.FAILED)
    return spec_import


def test_a_locked_database_is_retried_and_the_import_finishes(pending, monkeypatch):
    real = services.run_import
    calls = []

    def flaky(import_id):  # type: ignore[no-untyped-def]
        calls.append(import_id)
        if len(calls) < 3:
            raise OperationalError("database table is locked: integrations_specimport")
        return real(import_id)

    monkeypatch.setattr(services, "run_import", flaky)
    run_thread(pending.pk)
    pending.refresh_from_db()
    assert len(calls) == 3
    assert pending.status == SpecImport.Status.READY


def test_an_import_that_keeps_failing_is_marked_failed_with_a_message(pending, monkeypatch):
    def locked(import_id):  # type: ignore[no-untyped-def]
        raise OperationalError("database table is locked")

    monkeypatch.setattr(services, "run_import", locked)
    run_thread(pending.pk)
    pending.refresh_from_db()
    assert pending.status == SpecImport.Status.FAILED
    assert pending.error_code == "database_error"
    assert "Try again" in pending.error_message
