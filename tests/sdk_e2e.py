"""Shared by the end-to-end suites (tests/e2e, tests/e2e_connectors): the real, unmodified
``@base44/sdk`` in node, and the portal under gunicorn on the pytest PostgreSQL database.

- The SDK is pinned in tests/package.json + package-lock.json and installed once with
  ``npm ci`` into tests/node_modules (npm cache in tests/.npm-cache; both git-ignored), where
  node finds it from every suite's scripts. Without node/npm or the registry the tests are
  skipped with the reason, except under CI=true, where that fails the run.
- gunicorn runs ``config.settings.test`` with DATABASE_URL pointing at the test database, so
  tests that use it must commit their data (``django_db(transaction=True)``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SDK_VERSION = "0.8.50"
IN_CI = os.environ.get("CI", "").lower() == "true"


def skip_or_fail(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


def _installed_version() -> str | None:
    manifest = TESTS / "node_modules" / "@base44" / "sdk" / "package.json"
    try:
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def install_sdk() -> str:
    """Path of node, with the pinned SDK installed (once) where the e2e scripts find it."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        skip_or_fail("needs node and npm (node 20) for the end-to-end SDK tests")
    assert node is not None and npm is not None
    if _installed_version() != SDK_VERSION:
        command = [npm, "ci", "--no-audit", "--no-fund", "--cache", str(TESTS / ".npm-cache")]
        try:
            done = subprocess.run(command, cwd=TESTS, capture_output=True, text=True,
                                  timeout=300)
        except subprocess.TimeoutExpired:
            skip_or_fail("npm install of @base44/sdk timed out (is the npm registry reachable?)")
        if done.returncode != 0 or _installed_version() != SDK_VERSION:
            skip_or_fail(f"npm could not install @base44/sdk@{SDK_VERSION} (no registry?): "
                         + (done.stderr or done.stdout)[-500:])
    return node


def run_script(node: str, script: Path, spec: dict[str, Any], timeout: float = 60
               ) -> list[dict[str, Any]]:
    """Run a node script that reads a JSON spec on stdin and prints JSON results."""
    done = subprocess.run([node, str(script)], input=json.dumps(spec), capture_output=True,
                          text=True, cwd=script.parent, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(log: Path) -> str:
    try:
        return log.read_text()[-3000:]
    except OSError:
        return ""


@contextmanager
def _publishing_changes(redis_url: str) -> Iterator[None]:
    """The test process changes rows (an edit, a revocation) like any production process: with
    the portal on Redis, its commits publish the change to every gunicorn worker (the shared
    epoch of workspaces.sdk_cache), which this process's local-memory cache can't."""
    if not redis_url:
        yield
        return
    import redis

    from workspaces import sdk_cache

    client = redis.Redis.from_url(redis_url)
    original = sdk_cache._bump_now

    def publish() -> None:
        original()
        client.incr(":1:" + sdk_cache.EPOCH_KEY)  # the key the portal's RedisCache reads

    sdk_cache._bump_now = publish  # type: ignore[assignment]
    try:
        yield
    finally:
        sdk_cache._bump_now = original  # type: ignore[assignment]
        client.close()


@contextmanager
def gunicorn_portal(django_db_blocker: Any, log: Path, env: dict[str, str],
                    workers: int = 2) -> Iterator[str]:
    """Serve the portal as in production (config/gunicorn.conf.py: gevent workers, the bounded
    PostgreSQL pool) on a free port, on the test database, with ``env`` added to the
    environment; yields its base URL."""
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        pytest.skip("needs PostgreSQL (gunicorn must reach the test database)")
    with django_db_blocker.unblock():
        db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    port = free_port()
    redis_url = os.environ.get("CELERY_BROKER_URL", "")
    redis_url = redis_url if redis_url.startswith("redis://") else ""
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": (f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/"
                         f"{db['NAME']}"),
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEY),
        "LOG_LEVEL": "WARNING",
        # production's cache shape when Redis is there (the SDK lookup caches on, each change
        # published to every worker through the shared epoch: workspaces.sdk_cache)
        **({"TEST_SERVER_REDIS_URL": redis_url, "TEST_SERVER_CACHE_PREFIX": ""}
           if redis_url else {}),
        **env,
    }
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
             "config.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers",
             str(workers), "--timeout", "30", "--graceful-timeout", "2"],
            cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:  # noqa: S310
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start:\n" + tail(log))
            time.sleep(0.2)
        with _publishing_changes(redis_url):
            yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
