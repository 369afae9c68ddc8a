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
two queries). A request that could not read the epoch (Redis down), and any code outside an SDK
request (dashboard, admin API, tasks), reads the database every time.

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


def _reset(**_: Any) -> None:
    _state.trusted = False


request_started.connect(_reset, dispatch_uid="workspaces.sdk_cache.reset")


def begin() -> None:
    """At the start of an SDK request: read the shared epoch; empty every registered cache
    when it moved. The request may use the caches only if this succeeded."""
    _state.trusted = False
    if _configured_seconds() <= 0:
        return
    client = redis_client()
    if client is None:
        return
    try:
        epoch = client.get(cache.make_key(EPOCH_KEY))
    except Exception:
        log.warning("SDK lookup cache: Redis unavailable, reading the database", exc_info=True)
        return
    if epoch != _seen[0]:
        with _seen_lock:
            if epoch != _seen[0]:
                for clear in _listeners:
                    clear()
                _seen[0] = epoch
    _state.trusted = True


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
