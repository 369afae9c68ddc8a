"""Metering and the per-app rate limit: one credit per call that reached the upstream, none
for anything refused before sending, 402 when the workspace has none left (exact under
concurrency), 429 with Retry-After."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connections
from rest_framework.test import APIClient

from integrations import ratelimit
from integrations.models import CallLog
from tests.integrations import proxy_support
from tests.integrations.egress_support import Upstream
from tests.integrations.proxy_support import call_url, make_integration
from workspaces import credits
from workspaces.models import CreditEntry

# the shared fixtures of the proxy tests
_fresh_proxy_state = proxy_support._fresh_proxy_state
egress_open = proxy_support.egress_open
upstream = proxy_support.upstream

pytestmark = pytest.mark.django_db

CREDITS_402 = {
    "detail": "You have reached the limit of integrations for this month",
    "code": "integration_credits_limit_reached",
    "message": "You have reached the limit of integrations for this month",
    "extra_data": {"reason": "integration_credits_limit_reached"},
}


@pytest.fixture
def pets(personas: Any, upstream: Upstream, egress_open: Any) -> Any:
    return make_integration(personas.workspace, upstream.url("/v1"))


def set_balance(ws: Any, amount: int, key: str = "test-balance") -> None:
    credits.adjust(ws, amount - credits.balance(ws), reason="test", idempotency_key=key)


def call(client: APIClient, app: Any, op: str = "get:/pets", body: Any = None) -> Any:
    return client.post(call_url(app.public_id, "pets", op), body or {}, format="json")


def test_each_call_that_reached_the_upstream_costs_one_credit(personas, sdk, pets, upstream):
    upstream.routes["/v1/pets"] = lambda h: h.reply(500, b"boom")
    client = sdk(personas.app)
    for _ in range(3):
        assert call(client, personas.app).json()["status_code"] == 500  # upstream 5xx: billed
    assert credits.balance(personas.workspace) == 1997
    assert CreditEntry.objects.filter(kind="usage").count() == 3
    assert sum(CallLog.objects.values_list("credits", flat=True)) == 3


def test_402_when_no_credits_are_left(personas, sdk, pets, upstream):
    set_balance(personas.workspace, 1)
    client = sdk(personas.app)
    assert call(client, personas.app).status_code == 200
    r = call(client, personas.app)
    assert r.status_code == 402 and r.json() == CREDITS_402
    assert len(upstream.seen) == 1 and credits.balance(personas.workspace) == 0
    row = CallLog.objects.latest("id")
    assert (row.response_status, row.credits, row.error_code) == (
        402, 0, "integration_credits_limit_reached")


def test_nothing_is_billed_for_calls_that_were_not_sent(personas, sdk, pets, upstream,
                                                        egress_open):
    client = sdk(personas.app)
    call(client, personas.app, "get:/pets/{petId}", {"path_params": {"petId": "x"}})  # 400
    call(client, personas.app, "get:/missing")  # 404
    closed = Upstream()
    port = closed.port
    closed.close()
    egress_open.EGRESS_ALLOWED_PORTS = [80, 443, port]
    make_integration(personas.workspace, f"http://127.0.0.1:{port}", slug="down")
    r = client.post(call_url(personas.app.public_id, "down", "get:/pets"), {}, format="json")
    assert r.status_code == 502 and r.json()["phase"] == "not_sent"
    assert credits.balance(personas.workspace) == 2000
    # the credit reserved for the refused connection was given back in the same call
    kinds = list(CreditEntry.objects.filter(workspace=personas.workspace)
                 .order_by("id").values_list("kind", "amount"))
    assert kinds == [("grant", 2000), ("usage", -1), ("refund", 1)]
    assert list(CallLog.objects.values_list("credits", flat=True)) == [0, 0, 0]
    assert upstream.seen == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_credits_are_exact_under_concurrent_calls(personas, upstream, egress_open):
    """40 calls from 8 threads (8 database connections) against a balance of 25."""
    make_integration(personas.workspace, upstream.url("/v1"))
    set_balance(personas.workspace, 25)
    from workspaces import services

    _, raw = services.create_service_token(personas.app, actor=personas.owner, name="load")
    start = threading.Barrier(8)

    def worker(n: int) -> list[int]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        start.wait()
        try:
            return [call(client, personas.app).status_code for _ in range(5)]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(8) as pool:
        statuses = [s for batch in pool.map(worker, range(8)) for s in batch]
    assert statuses.count(200) == 25 and statuses.count(402) == 15
    assert credits.balance(personas.workspace) == 0
    assert len(upstream.seen) == 25
    assert CreditEntry.objects.filter(kind="usage").count() == 25
    assert sum(CallLog.objects.values_list("credits", flat=True)) == 25


# --------------------------------------------------------------------------- rate limit


def test_rate_limit_answers_429_with_retry_after(personas, sdk, pets, upstream, egress_open):
    egress_open.PROXY_RATE_LIMIT_PER_MINUTE = 3
    client = sdk(personas.app)
    assert [call(client, personas.app).status_code for _ in range(3)] == [200] * 3
    r = call(client, personas.app)
    assert r.status_code == 429
    retry = int(r["Retry-After"])
    assert 1 <= retry <= 60
    assert r.json()["code"] == "rate_limited" and r.json()["retry_after"] == retry
    assert "3 integration calls per minute" in r.json()["detail"]
    assert len(upstream.seen) == 3 and credits.balance(personas.workspace) == 1997
    # per app: another app of the workspace is not affected
    from tests.factories import make_app

    other = make_app(personas.workspace, personas.owner, "Other")
    assert call(sdk(other), other).status_code == 200


def test_sliding_window() -> None:
    t0 = 1_000_000 * 60.0  # the start of a bucket
    decisions = [ratelimit.hit("app-a", 10, now=t0 + 1) for _ in range(11)]
    assert [d.allowed for d in decisions] == [True] * 10 + [False]
    assert decisions[-1].retry_after == 59
    assert decisions[9].remaining == 0 and decisions[0].remaining == 9
    # half-way through the next minute the previous bucket counts for half: 5 more fit
    later = [ratelimit.hit("app-a", 10, now=t0 + 90).allowed for _ in range(6)]
    assert later == [True] * 5 + [False]
    assert ratelimit.hit("app-b", 10, now=t0 + 1).allowed  # per scope
    assert ratelimit.hit("app-c", 0, now=t0).allowed  # 0: no limit


def test_a_broken_cache_fails_open(monkeypatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache down")

    monkeypatch.setattr(ratelimit, "_count", boom)
    assert ratelimit.hit("app-x", 1).allowed


def _redis_url() -> str | None:
    url = os.environ.get("REDIS_URL") or os.environ.get("CELERY_BROKER_URL") or \
        "redis://127.0.0.1:6379/0"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        return None
    return url


def test_rate_limit_counters_live_in_redis(settings: Any) -> None:
    url = _redis_url()
    if url is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true but Redis is not reachable")
        pytest.skip("needs Redis at REDIS_URL / CELERY_BROKER_URL / 127.0.0.1:6379")
    import redis

    # (the settings fixture's signal swaps the cache handler in and out)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": url, "KEY_PREFIX": "sb-test-rl"}}
    raw = redis.Redis.from_url(url)
    raw.delete(*(raw.keys("sb-test-rl:*") or ["none"]))
    t0 = 2_000_000 * 60.0
    assert [ratelimit.hit("redis-app", 2, now=t0 + 5).allowed for _ in range(3)] == [
        True, True, False]
    keys = raw.keys("sb-test-rl:*proxy-rl:redis-app:*")
    assert len(keys) == 1 and int(raw.get(keys[0])) == 2  # the refused hit was undone
    assert 0 < raw.ttl(keys[0]) <= 125
    raw.delete(*keys)
