"""Shared fixtures: fixed personas, API clients, and the real-services switches.

With DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis) set, the tests marked `postgres` /
`redis` run for real; without them they are skipped with a reason, except under CI=true, where
a missing service fails the run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.factories import UserFactory, add_member, make_app, shared_workspace
from workspaces import services
from workspaces.models import App, Role, User, Workspace

IN_CI = os.environ.get("CI", "").lower() == "true"


def _have_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"].endswith("postgresql")


def _have_redis() -> bool:
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis"):
        return False
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        return True
    except Exception:
        return False


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    have = {"postgres": _have_postgres(), "redis": _have_redis()}
    reasons = {
        "postgres": "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/switchboard",
        "redis": "needs Redis and a real Celery worker: set CELERY_BROKER_URL=redis://127.0.0.1:6379/0",
    }
    missing = [name for name, ok in have.items() if not ok]
    if IN_CI and missing and any(item.get_closest_marker(m) for item in items for m in missing):
        raise pytest.UsageError(f"CI=true but these services are missing: {', '.join(missing)}. "
                                + " / ".join(reasons[m] for m in missing))
    for item in items:
        for name in missing:
            if item.get_closest_marker(name):
                item.add_marker(pytest.mark.skip(reason=reasons[name]))


@pytest.fixture(autouse=True)
def _empty_sdk_lookup_caches():  # type: ignore[no-untyped-def]
    """The per-process SDK lookup caches (workspaces.tokens, integrations.runtime) start empty
    in every test: the database goes back between tests, and ids come round again."""
    from integrations import runtime
    from workspaces import tokens

    tokens.forget_cached_tokens()
    runtime.invalidate()
    yield


@dataclass
class Personas:
    owner: User
    admin: User
    member: User
    outsider: User
    workspace: Workspace
    outsider_workspace: Workspace
    app: App
    outsider_app: App


@pytest.fixture
def personas(db) -> Personas:  # type: ignore[no-untyped-def]
    owner = UserFactory(email="owner@example.com")
    admin = UserFactory(email="admin@example.com")
    member = UserFactory(email="member@example.com")
    outsider = UserFactory(email="outsider@example.com")
    ws = shared_workspace(owner, "Acme")
    add_member(ws, admin, Role.ADMIN)
    add_member(ws, member, Role.MEMBER)
    other = shared_workspace(outsider, "Globex")
    return Personas(owner=owner, admin=admin, member=member, outsider=outsider, workspace=ws,
                    outsider_workspace=other, app=make_app(ws, owner, "Storefront"),
                    outsider_app=make_app(other, outsider, "Rival"))


@pytest.fixture
def api():  # type: ignore[no-untyped-def]
    """api(user) -> an APIClient authenticated with a fresh personal access token of user;
    api(None) -> an anonymous client."""

    def make(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            _, raw = services.create_personal_token(actor=user, name="tests")
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return make


@pytest.fixture
def sdk():  # type: ignore[no-untyped-def]
    """sdk(app) -> a client with a fresh service token of app; sdk(app, user_id) -> an app-user
    client; sdk(None) -> anonymous."""

    def make(app: App | None, app_user_id: str | None = None) -> APIClient:
        client = APIClient()
        if app is not None:
            if app_user_id is None:
                _, raw = services.create_service_token(app, actor=app.created_by, name="sdk")
            else:
                raw = services.mint_app_user_token(app, app_user_id).token
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client

    return make


ROLES = ["anonymous", "outsider", "member", "admin", "owner"]


def persona_user(personas: Personas, role: str) -> User | None:
    return None if role == "anonymous" else getattr(personas, role)


#: How far up each persona stands in the workspace (outsiders and anonymous have no role).
RANK = {"anonymous": 0, "outsider": 0, "member": 1, "admin": 2, "owner": 3}


def login_as(client, personas: Personas, role: str) -> None:  # type: ignore[no-untyped-def]
    """Sign the dashboard test client in as the persona (anonymous: stay signed out)."""
    user = persona_user(personas, role)
    if user:
        client.force_login(user)


def expect_for_role(response, role: str, least: str, *,  # type: ignore[no-untyped-def]
                    allowed: tuple[int, ...] = (200,), anonymous: int | None = None) -> None:
    """The rule every permission matrix checks: anonymous -> the sign-in redirect (pages) or
    `anonymous` (API); outsider -> 404; a role below `least` -> 403; at or above -> `allowed`."""
    status = response.status_code
    if role == "anonymous":
        if anonymous is None:
            assert status == 302 and response.url.startswith("/login/")
        else:
            assert status == anonymous, response.content[:300]
    elif role == "outsider":
        assert status == 404, response.content[:300]
    elif RANK[role] >= RANK[least]:
        assert status in allowed, (status, response.content[:2000])
    else:
        assert status == 403, response.content[:300]


@pytest.fixture
def celery_worker_real(transactional_db):  # type: ignore[no-untyped-def]
    """A real Celery worker (thread) consuming from Redis, for tests marked `redis`.

    Tasks are sent to the broker for real (not eager); the worker runs them against the same
    test database, so the test must commit (transactional_db).
    """
    from celery.contrib.testing.worker import start_worker

    from config.celery_app import app

    url = os.environ["CELERY_BROKER_URL"]
    old = {k: app.conf.get(k) for k in ("task_always_eager", "broker_url", "result_backend")}
    app.conf.update(task_always_eager=False, broker_url=url, result_backend=url)
    try:
        with start_worker(app, pool="threads", concurrency=2, perform_ping_check=False,
                          loglevel="WARNING", shutdown_timeout=10):
            yield app
    finally:
        app.conf.update(**old)
