"""Bulkheads: caps on proxied calls in flight, per app and per integration.

A slow or hanging upstream may hold at most ``PROXY_MAX_IN_FLIGHT_PER_INTEGRATION`` calls, and
one app at most ``PROXY_MAX_IN_FLIGHT_PER_APP``, so neither can take every socket, greenlet
or pooled database connection of the portal. A call over a cap is refused at once (the
proxy answers 429 + ``Retry-After`` before anything is charged or sent).

With Redis (the default cache is Django's RedisCache, ``REDIS_URL``) the caps hold across
every process: each cap is a sorted set of leases scored by their expiry; acquiring (all caps
at once, all or nothing) is one Lua script round trip, releasing another (one ``ZREM`` per cap). A
lease of a process that died expires by itself after the call's deadline plus a margin.
Without Redis (``make run``, tests), or while Redis is unreachable, each process enforces the
caps on its own counters: safe (never unbounded), only per process.

``admit`` is the proxy's gate: the app's rate limit (``integrations.ratelimit``'s sliding
window, same keys and arithmetic) and every cap, in ONE Lua round trip; a call refused by
either is not counted by the other.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from workspaces import sdk_cache

from . import ratelimit

log = logging.getLogger(__name__)

_ACQUIRE = """
local now = tonumber(ARGV[1])
local expires = tonumber(ARGV[2])
local id = ARGV[3]
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[3 + i]) then
    for j = 1, i - 1 do redis.call('ZREM', KEYS[j], id) end
    return i
  end
  redis.call('ZADD', key, expires, id)
  redis.call('EXPIRE', key, math.ceil(expires - now) + 60)
end
return 0
"""


_ADMIT = """
if ARGV[7] == '1' then
  local epoch = redis.call('GET', KEYS[3]) or ''
  if epoch ~= ARGV[8] then return {-2, 0, 0, epoch} end
end
local limit = tonumber(ARGV[4])
local cur, prev = 0, 0
if limit > 0 then
  cur = redis.call('INCR', KEYS[1])
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[6]))
  prev = tonumber(redis.call('GET', KEYS[2]) or '0')
  if prev * tonumber(ARGV[5]) + cur > limit then
    redis.call('DECR', KEYS[1])
    return {-1, cur, prev}
  end
end
local now = tonumber(ARGV[1])
local expires = tonumber(ARGV[2])
local id = ARGV[3]
for i = 4, #KEYS do
  local key = KEYS[i]
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[5 + i]) then
    for j = 4, i - 1 do redis.call('ZREM', KEYS[j], id) end
    if limit > 0 then redis.call('DECR', KEYS[1]) end
    return {i - 3, cur, prev}
  end
  redis.call('ZADD', key, expires, id)
  redis.call('EXPIRE', key, math.ceil(expires - now) + 60)
end
return {0, cur, prev}
"""


class Full(Exception):
    """A cap is reached: ``scope`` is "app" or "integration"."""

    def __init__(self, scope: str, limit: int, retry_after: int) -> None:
        super().__init__(f"{scope} cap of {limit} calls in flight reached")
        self.scope = scope
        self.limit = limit
        self.retry_after = retry_after


@dataclass
class Lease:
    id: str
    keys: tuple[str | bytes, ...]
    shared: bool  # held in Redis (else in this process's counters)


_LOCAL: dict[str, int] = {}
_LOCAL_LOCK = threading.Lock()
_SCRIPT = None
_ADMIT_SCRIPT = None
_RELEASE_SCRIPT = None
#: One command for every cap's ZREM (a pipeline costs more Python than the round trip).
_RELEASE = "for _, key in ipairs(KEYS) do redis.call('ZREM', key, ARGV[1]) end return 0"


def app_cap() -> int:
    return int(getattr(settings, "PROXY_MAX_IN_FLIGHT_PER_APP", 200))


def integration_cap() -> int:
    return int(getattr(settings, "PROXY_MAX_IN_FLIGHT_PER_INTEGRATION", 400))


def _retry_after() -> int:
    return max(1, int(getattr(settings, "PROXY_BULKHEAD_RETRY_AFTER_SECONDS", 1)))


def _lease_seconds() -> float:
    return float(getattr(settings, "PROXY_TIMEOUT_SECONDS", 30.0)) + 30.0


def _caps(app_key: str, integration_key: str | None) -> list[tuple[str, str, int]]:
    out = []
    if app_cap() > 0:
        out.append(("app", f"proxy-inflight:app:{app_key}", app_cap()))
    if integration_key is not None and integration_cap() > 0:
        out.append(("integration", f"proxy-inflight:int:{integration_key}", integration_cap()))
    return out


def _acquire_local(caps: list[tuple[str, str, int]]) -> Lease:
    with _LOCAL_LOCK:
        for scope, key, limit in caps:
            if _LOCAL.get(key, 0) >= limit:
                raise Full(scope, limit, _retry_after())
        for _, key, _ in caps:
            _LOCAL[key] = _LOCAL.get(key, 0) + 1
    return Lease("", tuple(key for _, key, _ in caps), shared=False)


def _acquire_shared(client: object, caps: list[tuple[str, str, int]]) -> Lease:
    global _SCRIPT
    from django.core.cache import cache

    if _SCRIPT is None:
        _SCRIPT = client.register_script(_ACQUIRE)  # type: ignore[attr-defined]
    keys = [cache.make_key(key) for _, key, _ in caps]
    lease_id = secrets.token_hex(8)
    now = time.time()
    refused = int(_SCRIPT(keys=keys, args=[now, now + _lease_seconds(), lease_id,
                                           *[limit for _, _, limit in caps]], client=client))
    if refused:
        scope, _, limit = caps[refused - 1]
        raise Full(scope, limit, _retry_after())
    return Lease(lease_id, tuple(keys), shared=True)


def acquire(app_key: str, integration_key: str | None) -> Lease:
    """Take one slot under every cap, or raise ``Full`` (then nothing is held)."""
    caps = _caps(app_key, integration_key)
    if not caps:
        return Lease("", (), shared=False)
    client = ratelimit._redis_client()
    if client is not None:
        try:
            return _acquire_shared(client, caps)
        except Full:
            raise
        except Exception:
            log.warning("proxy bulkhead: Redis unavailable, enforcing the caps per process",
                        exc_info=True)
    return _acquire_local(caps)


def admit(app_key: str, integration_key: str | None) -> Lease:
    """The app's rate limit and a slot under every cap, in one Redis round trip. Raises
    ``ratelimit.Limited`` or ``Full`` (then nothing is counted or held).

    When the request used the SDK lookup caches before reading the shared epoch
    (``sdk_cache.pending()``), the same round trip checks it first: if it moved, nothing is
    counted or held and ``sdk_cache.Stale`` is raised (the caller looks up again)."""
    global _ADMIT_SCRIPT
    caps = _caps(app_key, integration_key)
    limit = ratelimit.limit_per_minute()
    client = ratelimit._redis_client()
    if client is not None and (caps or limit > 0):
        from django.core.cache import cache

        check = sdk_cache.pending()
        try:
            if _ADMIT_SCRIPT is None:
                _ADMIT_SCRIPT = client.register_script(_ADMIT)
            now = time.time()
            current, previous, elapsed = ratelimit.keys(app_key, now)
            # bytes already: redis-py's encoder then has nothing to decide per argument
            keys = [cache.make_key(current).encode(), cache.make_key(previous).encode(),
                    sdk_cache.epoch_key().encode(),
                    *[cache.make_key(key).encode() for _, key, _ in caps]]
            lease_id = secrets.token_hex(8)
            answer = _ADMIT_SCRIPT(
                keys=keys,
                args=[repr(now).encode(), repr(now + _lease_seconds()).encode(),
                      lease_id.encode(), b"%d" % max(limit, 0),
                      repr(ratelimit.weight(elapsed)).encode(),
                      b"%d" % (ratelimit.WINDOW_SECONDS * 2 + 5), b"1" if check else b"0",
                      sdk_cache.expected(), *[b"%d" % cap for _, _, cap in caps]],
                client=client)
            verdict, cur, prev = (int(v) for v in answer[:3])
        except Exception:
            sdk_cache.distrust()  # Stale if cached rows were used: start over from the database
            log.warning("proxy gate: Redis unavailable, enforcing the caps per process (rate "
                        "limit off)", exc_info=True)
            return _acquire_local(caps) if caps else Lease("", (), shared=False)
        if check:  # -2: the epoch moved (Stale)
            sdk_cache.settle(answer[3] if verdict == -2 else sdk_cache.expected())
        if verdict == -1:
            decision = ratelimit.decide(limit, cur, prev, elapsed)
            if decision.allowed:  # the script's float arithmetic was a hair stricter
                decision = ratelimit.Decision(False, limit, 0, 1)
            raise ratelimit.Limited(decision)
        if verdict > 0:
            scope, _, cap = caps[verdict - 1]
            raise Full(scope, cap, _retry_after())
        return Lease(lease_id, tuple(keys[3:]), shared=bool(caps))
    sdk_cache.confirm()  # no round trip of ours: read the epoch before anything is counted
    decision = ratelimit.hit(app_key, limit)
    if not decision.allowed:
        raise ratelimit.Limited(decision)
    return _acquire_local(caps) if caps else Lease("", (), shared=False)


def release(lease: Lease) -> None:
    if not lease.keys:
        return
    if not lease.shared:
        with _LOCAL_LOCK:
            for key in lease.keys:
                left = _LOCAL.get(key, 0) - 1
                if left > 0:
                    _LOCAL[key] = left
                else:
                    _LOCAL.pop(key, None)
        return
    global _RELEASE_SCRIPT
    client = ratelimit._redis_client()
    try:
        if _RELEASE_SCRIPT is None:
            _RELEASE_SCRIPT = client.register_script(_RELEASE)  # type: ignore[union-attr]
        _RELEASE_SCRIPT(keys=list(lease.keys), args=[lease.id], client=client)
    except Exception:  # the lease expires by itself
        log.warning("proxy bulkhead: could not release a lease", exc_info=True)


@contextmanager
def slot(app_key: str, integration_key: str | None) -> Iterator[Lease]:
    lease = acquire(app_key, integration_key)
    try:
        yield lease
    finally:
        release(lease)


def in_flight_here() -> dict[str, int]:
    """This process's counters (without Redis); for tests and diagnostics."""
    with _LOCAL_LOCK:
        return dict(_LOCAL)
