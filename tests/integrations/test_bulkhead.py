"""Bulkheads: with the per-app cap at N, call N+1 is answered at once with 429 +
Retry-After (the SDK's error shape) while N are in flight; it is not charged, not sent and
not logged as sent, and another app's call goes through. Real server, real sockets; then the
caps' shared (Redis) store, across clients, in process."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from integrations import bulkhead
from integrations.models import CallLog
from tests.integrations import load_support as ps
from tests.integrations.calllog_support import wait_for_rows
from tests.integrations.egress_support import Upstream
from workspaces.models import CreditEntry

CAP = 3


@pytest.fixture(scope="module")
def gate() -> ps.Gate:
    return ps.Gate()


@pytest.fixture(scope="module")
def upstream(gate: ps.Gate) -> Iterator[Upstream]:
    up = Upstream(routes={"/api/hang": gate.route, "/api/fast": ps.fast_route})
    yield up
    gate.open()
    up.close()


@pytest.fixture(scope="module")
def portal(django_db_setup: Any, django_db_blocker: Any, upstream: Upstream,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {"PROXY_MAX_IN_FLIGHT_PER_APP": str(CAP), "PROXY_MAX_IN_FLIGHT_PER_INTEGRATION": "0",
           "PROXY_BULKHEAD_RETRY_AFTER_SECONDS": "2"}
    with ps.portal(django_db_blocker, log, upstream, env, workers=1) as url:
        yield url


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_call_over_the_app_cap_is_refused_at_once_uncharged_and_unsent(
        portal: str, upstream: Upstream, gate: ps.Gate) -> None:
    busy = ps.make_caller(upstream)
    other = ps.make_caller(upstream, slug="other")
    calls = ps.Background()
    for _ in range(CAP):
        calls.start(ps.call, portal, busy)
    gate.wait_active(CAP)
    seen_before = len(upstream.seen)

    status, headers, body = ps.call(portal, busy, "get:/fast", timeout=5)
    assert status == 429
    assert headers["Retry-After"] == "2"
    assert body["code"] == "concurrency_limited"
    assert body["retry_after"] == 2
    assert "at most 3" in body["detail"]
    assert len(upstream.seen) == seen_before  # nothing was sent

    # another app (its own cap) goes through while busy's calls hang
    status, _, body = ps.call(portal, other, "get:/fast", slug="other", timeout=5)
    assert status == 200 and body["success"] is True

    gate.open()
    calls.join()
    assert [r[0] for r in calls.results] == [200] * CAP

    # the rows are written after the answers (a flusher under the production config)
    wait_for_rows(CallLog.objects.filter(app=busy.app), CAP + 1)
    refused = CallLog.objects.get(app=busy.app, error_code="concurrency_limited")
    assert refused.phase == CallLog.Phase.NOT_SENT
    assert refused.response_status == 429
    assert refused.credits == 0 and refused.status_code is None
    assert CreditEntry.objects.filter(workspace=busy.workspace, amount__lt=0).count() == CAP
    # once the calls are done, the app may call again
    status, _, body = ps.call(portal, busy, "get:/fast", timeout=5)
    assert status == 200 and body["data"] == {"fast": True}


# --------------------------------------------------------------------------- the shared store

REDIS = os.environ.get("CELERY_BROKER_URL", "")


@pytest.fixture
def redis_caps(settings: Any) -> Iterator[None]:
    if not REDIS.startswith("redis://"):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("CI=true: the shared bulkhead test needs Redis (CELERY_BROKER_URL)")
        pytest.skip("needs Redis (CELERY_BROKER_URL)")
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": REDIS, "KEY_PREFIX": "bulkhead-test"}}
    settings.PROXY_MAX_IN_FLIGHT_PER_APP = 2
    settings.PROXY_MAX_IN_FLIGHT_PER_INTEGRATION = 3
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def test_redis_caps_are_all_or_nothing_and_per_app(redis_caps: None) -> None:
    a1 = bulkhead.acquire("app-a", "custom:1")
    a2 = bulkhead.acquire("app-a", "custom:1")
    assert a1.shared and a2.shared  # held in Redis, seen by every process
    with pytest.raises(bulkhead.Full) as full:
        bulkhead.acquire("app-a", "custom:2")
    assert full.value.scope == "app" and full.value.limit == 2
    b1 = bulkhead.acquire("app-b", "custom:1")  # the integration's third and last slot
    with pytest.raises(bulkhead.Full) as full:
        bulkhead.acquire("app-c", "custom:1")
    assert full.value.scope == "integration"
    # the refusal took nothing: app-c still has both of its slots
    c1 = bulkhead.acquire("app-c", "custom:9")
    c2 = bulkhead.acquire("app-c", "custom:9")
    for lease in (a1, a2, b1, c1, c2):
        bulkhead.release(lease)
    again = bulkhead.acquire("app-a", "custom:1")
    bulkhead.release(again)


def test_a_dead_process_lease_expires(redis_caps: None, settings: Any,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulkhead, "_lease_seconds", lambda: -1.0)  # already expired
    bulkhead.acquire("app-x", None)
    bulkhead.acquire("app-x", None)  # both "leaked" (never released)
    monkeypatch.undo()
    lease = bulkhead.acquire("app-x", None)  # the stale leases no longer count
    bulkhead.release(lease)


def test_without_redis_each_process_still_enforces_the_caps(settings: Any) -> None:
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    settings.PROXY_MAX_IN_FLIGHT_PER_APP = 1
    lease = bulkhead.acquire("app-local", "custom:5")
    assert not lease.shared
    with pytest.raises(bulkhead.Full):
        bulkhead.acquire("app-local", "custom:6")
    bulkhead.release(lease)
    bulkhead.release(bulkhead.acquire("app-local", "custom:6"))
    assert bulkhead.in_flight_here() == {}


# --------------------------------------------------------------------------- the gate: one trip


def test_admit_applies_the_rate_limit_and_the_caps_in_one_redis_script(
        redis_caps: None, settings: Any) -> None:
    from integrations import ratelimit

    settings.PROXY_RATE_LIMIT_PER_MINUTE = 3
    settings.PROXY_MAX_IN_FLIGHT_PER_APP = 2
    a1 = bulkhead.admit("gate-a", "custom:1")
    a2 = bulkhead.admit("gate-a", "custom:1")
    assert a1.shared and a2.shared
    with pytest.raises(bulkhead.Full):  # over the app's cap: refused, and not counted
        bulkhead.admit("gate-a", "custom:1")
    bulkhead.release(a1)
    a3 = bulkhead.admit("gate-a", "custom:1")  # the 3rd counted call of the minute
    bulkhead.release(a3)
    with pytest.raises(ratelimit.Limited) as limited:  # the 4th: over the rate limit
        bulkhead.admit("gate-a", "custom:1")
    assert limited.value.decision.limit == 3 and 1 <= limited.value.decision.retry_after <= 60
    bulkhead.release(a2)
    # the rate-limited call took no slot: both of the app's slots are free again
    settings.PROXY_RATE_LIMIT_PER_MINUTE = 100
    b1, b2 = bulkhead.admit("gate-a", "custom:1"), bulkhead.admit("gate-a", "custom:1")
    for lease in (b1, b2):
        bulkhead.release(lease)
    # the same counters as ratelimit.hit: a1, a2, a3, b1, b2 were counted, the two refused
    # calls were not, so this is the 6th call of the minute
    assert ratelimit.hit("gate-a", 10).remaining == 4
