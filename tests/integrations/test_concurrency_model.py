"""The production server (config/gunicorn.conf.py, gevent workers): calls hanging on a stalled
upstream hold a socket each, not the worker, so /healthz, a dashboard page and another app's
call all answer while they hang. One worker process on purpose: with a thread per call it
would be blocked by the first hanging call. Real server process, real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import UserFactory
from tests.integrations import load_support as ps
from tests.integrations.egress_support import Upstream

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

HANGING = 12  # more than any thread pool the old server had per process


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
    with ps.portal(django_db_blocker, log, upstream, {}, workers=1) as url:
        yield url


def test_hanging_upstream_does_not_block_healthz_dashboard_or_other_apps(
        portal: str, upstream: Upstream, gate: ps.Gate) -> None:
    owner = UserFactory()
    hanging = ps.make_caller(upstream, owner=owner)
    other = ps.make_caller(upstream, slug="other", owner=UserFactory())
    client = Client()
    client.force_login(owner)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    calls = ps.Background()
    for _ in range(HANGING):
        calls.start(ps.call, portal, hanging)
    gate.wait_active(HANGING)  # every one of them is in flight, waiting on the upstream

    status, _ = ps.get(portal + "/healthz")
    assert status == 200
    page = f"{portal}/w/{hanging.workspace.public_id}/integrations/"
    status, _ = ps.get(page, cookie=cookie)
    assert status == 200
    status, _, body = ps.call(portal, other, "get:/fast", slug="other", timeout=5)
    assert status == 200 and body["data"] == {"fast": True}
    assert gate.active == HANGING  # still hanging while all of that was answered

    gate.open()
    calls.join()
    assert not calls.errors
    assert [r[0] for r in calls.results] == [200] * HANGING
    assert all(r[2]["success"] is True for r in calls.results)
