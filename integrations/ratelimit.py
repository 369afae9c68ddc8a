"""Per-app rate limit for proxied calls: a sliding window over two fixed one-minute buckets.

``estimate = previous_bucket * (1 - elapsed / window) + current_bucket``; a call is refused
when the estimate would exceed the limit (refused calls are not counted, so ``Retry-After``
stays truthful under a flood).

Storage is the default cache. With Redis (``REDIS_URL``) the counters are shared by every
process and each check is one round trip (a pipeline); with the local-memory cache the limit
holds per process. If the cache is down the limiter fails open and logs it: the proxy keeps
working, unmetered by this guard only (credits still apply).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from workspaces import sdk_cache

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds; 0 when allowed


class Limited(Exception):
    """A call refused by the rate limit (``decision.allowed`` is False)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"rate limit of {decision.limit} calls per minute reached")
        self.decision = decision


def limit_per_minute() -> int:
    return int(getattr(settings, "PROXY_RATE_LIMIT_PER_MINUTE", 600))


def keys(scope: str, now: float) -> tuple[str, str, float]:
    bucket = int(now // WINDOW_SECONDS)
    elapsed = now - bucket * WINDOW_SECONDS
    return f"proxy-rl:{scope}:{bucket}", f"proxy-rl:{scope}:{bucket - 1}", elapsed


def _redis_client() -> Any | None:
    """The default cache's redis-py client, or None (``workspaces.sdk_cache.redis_client``)."""
    return sdk_cache.redis_client()


def _count(current: str, previous: str) -> tuple[int, int]:
    """Increment the current bucket; return (current count, previous count)."""
    client = _redis_client()
    if client is not None:
        cur_key, prev_key = cache.make_key(current), cache.make_key(previous)
        pipe = client.pipeline(transaction=False)
        pipe.incr(cur_key)
        pipe.expire(cur_key, WINDOW_SECONDS * 2 + 5)
        pipe.get(prev_key)
        cur, _, prev = pipe.execute()
        return int(cur), int(prev or 0)
    cache.add(current, 0, WINDOW_SECONDS * 2 + 5)
    try:
        cur = cache.incr(current)
    except ValueError:  # expired between add and incr
        cache.add(current, 1, WINDOW_SECONDS * 2 + 5)
        cur = 1
    return int(cur), int(cache.get(previous) or 0)


def _undo(current: str) -> None:
    client = _redis_client()
    if client is not None:
        client.decr(cache.make_key(current))
        return
    try:
        cache.decr(current)
    except ValueError:
        pass


def hit(scope: str, limit: int | None = None, *, now: float | None = None) -> Decision:
    """Count one call for ``scope`` (an app's public id) and say whether it may proceed."""
    limit = limit_per_minute() if limit is None else limit
    if limit <= 0:
        return Decision(True, 0, 0, 0)
    now = time.time() if now is None else now
    current, previous, elapsed = keys(scope, now)
    try:
        cur, prev = _count(current, previous)
    except Exception:  # the limiter must never take the proxy down
        log.warning("proxy rate limiter unavailable; allowing the call", exc_info=True)
        return Decision(True, limit, limit, 0)
    decision = decide(limit, cur, prev, elapsed)
    if not decision.allowed:
        try:
            _undo(current)
        except Exception:
            log.warning("proxy rate limiter could not undo a refused hit", exc_info=True)
    return decision


def weight(elapsed: float) -> float:
    """How much of the previous bucket still counts ``elapsed`` seconds into this one."""
    return 1.0 - elapsed / WINDOW_SECONDS


def decide(limit: int, cur: int, prev: int, elapsed: float) -> Decision:
    """The decision for a call counted as the ``cur``-th of this bucket (``prev`` in the last
    one); a refused call must then be uncounted by the caller."""
    estimate = prev * weight(elapsed) + cur
    if estimate <= limit:
        return Decision(True, limit, max(0, int(limit - estimate)), 0)
    # When does the estimate (without this call) drop to limit - 1 or below?
    wait = WINDOW_SECONDS - elapsed
    cur_without = cur - 1
    if cur_without < limit and prev:
        # prev * (1 - (elapsed + t) / W) + cur_without <= limit - 1
        t = (prev * weight(elapsed) + cur_without - (limit - 1)) * WINDOW_SECONDS / prev
        wait = min(wait, max(t, 0.0))
    return Decision(False, limit, 0, max(1, math.ceil(wait)))
