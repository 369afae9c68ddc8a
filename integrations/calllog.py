"""The one writer of ``CallLog`` rows: the integration proxy and connectors' ``callApi`` both
call ``write``.

A row is written **after the response**: during a request, ``write`` only queues it, and the
queue is flushed when the request finishes (``request_finished``, which a WSGI server sends
after the response body went out), or, with ``PROXY_LOG_FLUSH_SECONDS`` (production: 0.05),
by a flusher thread that long after the first queued row, so one INSERT carries many calls.
One flush writes every queued row of the process in one
multi-row ``INSERT`` (raw SQL, built once from the model's meta: the ORM's per-call query
building costs more than the insert), so under concurrency one statement carries the rows of
many calls (group commit), and a call does not wait for its log row. Outside a request (a
script, a task, a shell) ``write`` inserts at once.

On PostgreSQL, in autocommit, the insert is committed asynchronously (``SET LOCAL
synchronous_commit TO OFF`` in the same round trip; ``PROXY_LOG_ASYNC_COMMIT = False`` turns
it off): the caller does not wait for a disk flush of log rows.

What a crash can lose: the log rows of calls that finished in the last moments before it
(queued, at most ``PROXY_LOG_FLUSH_SECONDS`` old, or committed asynchronously). A clean
shutdown writes what is queued (``atexit``). It never loses a billed call without trace: the credit
is charged, durably, before the upstream is called, and the ledger entry's idempotency key
names the request id (``proxy:<request id>`` / ``connector:<request id>``), with the
integration and operation in its reason. A failed flush is logged (request ids only, never
parameters) and retried row by row, so one bad row (say, its app deleted meanwhile) costs
only its own row.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from contextlib import nullcontext
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from .models import CallLog

log = logging.getLogger(__name__)

#: Sent in the same round trip as the INSERT (one implicit transaction).
_ASYNC_COMMIT = "SET LOCAL synchronous_commit TO OFF; "
#: Rows per INSERT statement at most (a flush of more writes several statements).
MAX_BATCH = 200

_queue: list[tuple[Any, ...]] = []
_queue_lock = threading.Lock()  # guards _queue (held for an append or a swap only)
_flush_lock = threading.Lock()  # one flush at a time per process
_state = threading.local()  # .in_request: between request_started and request_finished


@lru_cache(maxsize=1)
def _columns() -> tuple[str, str, tuple[Any, ...]]:
    """(INSERT head, one row's placeholders, the fields), from the model's meta."""
    opts = CallLog._meta
    fields = tuple(f for f in opts.concrete_fields if not f.primary_key)
    qn = connection.ops.quote_name
    # only quoted identifiers from the model's meta are interpolated; values are parameters
    head = (f"INSERT INTO {qn(opts.db_table)} "  # noqa: S608
            f"({', '.join(qn(f.column) for f in fields)}) VALUES ")
    return head, "(" + ", ".join(["%s"] * len(fields)) + ")", fields


def _params(row: CallLog) -> tuple[Any, ...]:
    """The row's column values, prepared by the model's own fields (defaults, auto_now_add)."""
    _, _, fields = _columns()
    return tuple(f.get_db_prep_save(f.pre_save(row, add=True), connection) for f in fields)


#: Field types whose database value is the Python value itself (str, int, bool, None), on
#: every backend: ``write_values`` passes them through without the field's conversions.
_PLAIN = (models.CharField, models.IntegerField, models.BooleanField, models.ForeignKey)


@lru_cache(maxsize=1)
def _plan() -> tuple[tuple[str, Any, Any], ...]:
    """(attname, default, the field when its value needs converting), per column."""
    _, _, fields = _columns()
    out = []
    for f in fields:
        plain = isinstance(f, _PLAIN) and not getattr(f, "auto_now_add", False)
        if isinstance(f, models.ForeignKey):
            plain = plain and isinstance(f.target_field, (models.AutoField,
                                                          models.BigAutoField))
        if f.has_default() and callable(f.default):
            plain = False  # its default is made per row, below
            default = None
        else:
            default = f.get_default()
        out.append((f.attname, default, None if plain else f))
    return tuple(out)


def write_values(**values: Any) -> None:
    """``write(CallLog(**values))`` without building the model instance: ``values`` by
    attname (``workspace_id``, ``app_id``, ...), of the fields' own types; missing ones take
    the field's default (``created_at``: now)."""
    params = []
    for attname, default, field in _plan():
        value = values.get(attname, default)
        if field is not None:
            if value is None and attname not in values:
                value = timezone.now() if getattr(field, "auto_now_add", False) else (
                    field.get_default())
            value = field.get_db_prep_save(value, connection)
        params.append(value)
    _queue_or_insert(tuple(params))


def _async_commit_ok() -> bool:
    """PostgreSQL, in autocommit (never inside someone's transaction), client-side parameter
    binding (so two statements can share one round trip), and not turned off by
    ``PROXY_LOG_ASYNC_COMMIT``."""
    return (
        connection.vendor == "postgresql"
        and getattr(settings, "PROXY_LOG_ASYNC_COMMIT", True)
        and not connection.in_atomic_block
        and not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")
    )


def _insert(rows: list[tuple[Any, ...]]) -> None:
    head, one, _ = _columns()
    sql = head + ", ".join([one] * len(rows))
    params = [value for row in rows for value in row]
    with connection.cursor() as cursor:
        cursor.execute(_ASYNC_COMMIT + sql if _async_commit_ok() else sql, params)


def _insert_all(rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` in batches; a batch that fails is retried row by row, and a row that
    still fails is logged and dropped (it must not take the others with it)."""
    for start in range(0, len(rows), MAX_BATCH):
        batch = rows[start:start + MAX_BATCH]
        try:
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                _insert(batch)
            continue
        except DatabaseError:
            if len(batch) == 1:
                _lost(batch[0])
                continue
        for row in batch:
            try:
                with transaction.atomic() if connection.in_atomic_block else nullcontext():
                    _insert([row])
            except DatabaseError:
                _lost(row)


def _lost(row: tuple[Any, ...]) -> None:
    _, _, fields = _columns()
    names = [f.attname for f in fields]
    values = dict(zip(names, row, strict=True))
    log.exception("call log row of %s could not be written (credits %s)",
                  values.get("request_id"), values.get("credits"))


def write(row: CallLog) -> None:
    """Record one call: queued until the current request finished, inserted at once
    outside a request."""
    _queue_or_insert(_params(row))


def _queue_or_insert(params: tuple[Any, ...]) -> None:
    if getattr(_state, "in_request", False):
        with _queue_lock:
            _queue.append(params)
        return
    _insert_all([params])


def flush() -> None:
    """Write every queued row of this process (one multi-row INSERT per ``MAX_BATCH``).

    A flush that finds another one running waits for it, so when ``flush`` returns, every row
    queued before the call is in the database (the test client and the WSGI server call it at
    the end of each request, through ``request_finished``)."""
    with _flush_lock:
        with _queue_lock:
            if not _queue:
                return
            rows = _queue[:]
            _queue.clear()
        opened = connection.connection is None  # the request's connection was handed back
        try:
            _insert_all(rows)
        finally:
            if opened and not connection.in_atomic_block:
                # what the end of the request did before: back to the pool (or closed when
                # connections are not kept), so a flush never holds on to one
                connection.close_if_unusable_or_obsolete()


def flush_delay() -> float:
    """``PROXY_LOG_FLUSH_SECONDS``: 0 (the default) flushes at the end of each request; more
    lets a background flusher wait that long first, so one INSERT carries the rows of every
    call that finished meanwhile (production's gunicorn config: 0.05)."""
    return max(0.0, float(getattr(settings, "PROXY_LOG_FLUSH_SECONDS", 0) or 0))


_wake = threading.Event()
_flusher: dict[str, Any] = {}  # pid -> the flusher thread of this process
_flusher_lock = threading.Lock()


def _flusher_loop(delay: float) -> None:
    """One per process (a greenlet under gevent): wait for rows, wait ``delay`` more, write
    them all. Its database connection is its own, handed back after each flush."""
    while True:
        _wake.wait()
        # the rows of the calls finishing meanwhile join this INSERT
        time.sleep(flush_delay() or delay)
        _wake.clear()  # rows queued from here on wake it again
        try:
            flush()
        except Exception:  # noqa: BLE001 (a flusher that dies would stop every later row)
            log.exception("call log flush failed")
        finally:
            connection.close()  # its own connection: back to the pool, never held idle


def _flush_soon(delay: float) -> None:
    pid = os.getpid()  # a worker forked from a process that had one starts its own
    if _flusher.get("pid") != pid:
        with _flusher_lock:
            if _flusher.get("pid") != pid:
                thread = threading.Thread(target=_flusher_loop, args=(delay,), daemon=True,
                                          name="call-log-flusher")
                thread.start()
                _flusher.update(pid=pid, thread=thread)
    _wake.set()


def _started(**_: Any) -> None:
    _state.in_request = True


def _finished(**_: Any) -> None:
    _state.in_request = False
    if _queue:
        delay = flush_delay()
        if delay > 0:
            _flush_soon(delay)
        else:
            flush()


request_started.connect(_started, dispatch_uid="integrations.calllog.started")
request_finished.connect(_finished, dispatch_uid="integrations.calllog.finished")
atexit.register(lambda: _queue and flush())
