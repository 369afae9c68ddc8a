"""When a process may use its SDK lookup caches: a shared epoch in Redis.

Every SDK call looks up rows that rarely change: the service token (token -> app ->
workspace), an app-user token's app, app user and "not revoked" (``workspaces.tokens``), an
integration by slug (``integrations.runtime``). Each process caches them for
``SDK_LOOKUP_CACHE_SECONDS``, and any save or delete of those rows empties the caches of the
process that made it at once. Other processes learn of the change through one shared number:

- ``bump()``: every such change increments ``sdk-lookup-epoch`` in Redis once its transaction
  has committed (before the request that made it returns);
- ``begin()``: each SDK request reads the epoch (one ``GET``) before its first lookup. When it
  moved since this process last looked, every registered cache is emptied first.

So a revoked token, a deleted app or an edited integration is refused/applied by the next call
any process serves, while a warm call needs no SQL for its lookups (one Redis ``GET`` instead of
two queries).

The proxy, whose call makes a Redis round trip anyway (its gate, ``integrations.bulkhead``),
saves the ``GET``: ``begin(optimistic=True)`` lets the request use the caches before the epoch
is read (``pending()``), and the gate's script compares the epoch with the one this process
had seen when the request began (``expected()``) before it admits anything. If it moved,
the script admits nothing and ``settle`` empties the caches and raises ``Stale``: the proxy
then authenticates and looks up again from the database and calls again. An answer that
never reached the gate (a refusal) calls ``confirm()`` first, which reads the epoch like
``begin()``. Nothing is sent, charged, logged or refused on cached rows that the epoch has
not confirmed.

A request that could not read the epoch (Redis down), and any code outside an SDK request
(dashboard, admin API, tasks), reads the database every time.

Without Redis (``make run``, tests on the local-memory cache) there is no epoch to share: each
process trusts its own cache for ``SDK_LOOKUP_CACHE_SECONDS`` (default 0 then, i.e. off), which
is exact for a single process. Changes that bypass model signals (``QuerySet.update``, raw SQL)
are seen within ``SDK_LOOKUP_CACHE_SECONDS`` at most.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache, caches
from django.core.signals import request_started
from django.db import transaction

log = logging.getLogger(__name__)

EPOCH_KEY = "sdk-lookup-epoch"

_state = threading.local()  # per request (per greenlet under gevent)
_seen: list[bytes | None] = [None]
_seen_lock = threading.Lock()
_listeners: list[Callable[[], None]] = []
_CLIENTS: dict[tuple[str, ...], Any] = {}


def redis_client() -> Any | None:
    """The redis-py client (thread-safe, pooled) of the default cache when that is Django's
    RedisCache; made once per server list instead of once per call. None otherwise."""
    backend = caches["default"]
    if type(backend).__name__ != "RedisCache":
        return None
    servers = tuple(backend._cache._servers)
    client = _CLIENTS.get(servers)
    if client is None:
        client = _CLIENTS[servers] = backend._cache.get_client(None, write=True)
    return client


def register(clear: Callable[[], None]) -> None:
    """``clear()`` empties one process cache; called when the shared epoch moves."""
    if clear not in _listeners:
        _listeners.append(clear)


def _configured_seconds() -> float:
    return float(getattr(settings, "SDK_LOOKUP_CACHE_SECONDS", 0))


class Stale(Exception):
    """The caches this request used were older than the shared epoch (now emptied): look up
    again and start over (``begin(optimistic=True)`` callers only)."""


def _reset(**_: Any) -> None:
    _state.trusted = False
    _state.pending = False


request_started.connect(_reset, dispatch_uid="workspaces.sdk_cache.reset")


def begin(*, optimistic: bool = False) -> None:
    """At the start of an SDK request: read the shared epoch; empty every registered cache
    when it moved. The request may use the caches only if this succeeded.

    ``optimistic``: don't read it now; the caches may be used until the caller's own Redis
    round trip checks ``expected()`` (then ``settle``), or ``confirm()`` reads it."""
    _state.trusted = False
    _state.pending = False
    if _configured_seconds() <= 0:
        return
    client = redis_client()
    if client is None:
        return
    if optimistic:
        _state.trusted = _state.pending = True
        _state.expected = _seen[0]  # what the caches held when this request began
        return
    try:
        epoch = client.get(cache.make_key(EPOCH_KEY))
    except Exception:
        log.warning("SDK lookup cache: Redis unavailable, reading the database", exc_info=True)
        return
    _moved(epoch)
    _state.trusted = True


def _moved(epoch: bytes | None) -> None:
    """Empty the caches if ``epoch`` is not the one last seen."""
    if epoch == _seen[0]:
        return
    with _seen_lock:
        if epoch != _seen[0]:
            for clear in _listeners:
                clear()
            _seen[0] = epoch


def pending() -> bool:
    """This request used (or may use) the caches before the epoch was read."""
    return bool(getattr(_state, "pending", False))


def epoch_key() -> str:
    return cache.make_key(EPOCH_KEY)


def expected() -> bytes:
    """The epoch this process had seen when this request began (b"" for none), for a script
    to compare."""
    return getattr(_state, "expected", None) or b""


def settle(epoch: bytes | None) -> None:
    """The epoch as read (None or b"": not set) by the caller's round trip. The same as
    ``expected()``: the caches used so far were current. Else ``Stale`` is raised, the caches
    emptied if no other request of this process did it yet (this request may use them again,
    refilled from the database)."""
    _state.pending = False
    epoch = epoch or None
    if epoch != (getattr(_state, "expected", None) or None):
        _moved(epoch)
        raise Stale()


def distrust() -> None:
    """The epoch could not be read (Redis down): if cached rows were used, raise ``Stale`` so
    the request starts over reading the database (and keeps reading it)."""
    was_pending = pending()
    _state.trusted = _state.pending = False
    if was_pending:
        log.warning("SDK lookup cache: Redis unavailable, reading the database")
        raise Stale()


def confirm() -> None:
    """Before answering without the caller's round trip (a refusal): read the epoch now;
    ``Stale`` if it moved (or could not be read) since the caches were used."""
    if not pending():
        return
    client = redis_client()
    try:
        epoch = client.get(epoch_key()) if client is not None else None
    except Exception:
        distrust()
        return
    if client is None:
        distrust()
    settle(epoch)


def seconds() -> float:
    """How long a lookup read now may be kept (0: read the database, keep nothing)."""
    configured = _configured_seconds()
    if configured <= 0:
        return 0.0
    if redis_client() is None:
        return configured  # one process, or each on its own (documented)
    return configured if getattr(_state, "trusted", False) else 0.0


def _bump_now() -> None:
    client = redis_client()
    if client is None:
        return
    try:
        client.incr(cache.make_key(EPOCH_KEY))
    except Exception:  # other processes then read the database while Redis is down
        log.warning("SDK lookup cache: could not publish a change", exc_info=True)


def bump(using: str | None = None) -> None:
    """A cached row changed: tell every process, once the change's transaction commits."""
    if transaction.get_connection(using).in_atomic_block:
        transaction.on_commit(_bump_now, using=using)
    else:
        _bump_now()
