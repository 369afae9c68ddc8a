"""End-to-end fixtures: the real ``@base44/sdk@0.8.50`` (node) against the portal under
gunicorn, on the pytest PostgreSQL database, calling a local upstream.

- ``sdk_node``: installs the pinned SDK into tests/e2e/node_modules (``npm ci`` from the lock
  file, npm cache in tests/e2e/.npm-cache; both git-ignored). Without node/npm or the registry
  the tests are skipped with the reason, except under CI=true, where that fails the run.
- ``portal``: gunicorn (3 sync workers, ``config.settings.test``) on a free port, with
  DATABASE_URL pointing at the test database, so tests must commit their data
  (``django_db(transaction=True)``); EGRESS_ALLOW_CIDRS opens 127.0.0.0/8 for the upstream.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from tests.integrations.egress_support import Upstream

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SDK_VERSION = "0.8.50"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _skip_or_fail(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


def _installed_version() -> str | None:
    manifest = HERE / "node_modules" / "@base44" / "sdk" / "package.json"
    try:
        return json.loads(manifest.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture(scope="session")
def sdk_node() -> str:
    """Path of node, with the pinned SDK installed next to the e2e scripts."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        _skip_or_fail("needs node and npm (node 20) for the end-to-end SDK tests")
    assert node is not None and npm is not None
    if _installed_version() != SDK_VERSION:
        command = [npm, "ci" if (HERE / "package-lock.json").exists() else "install",
                   "--no-audit", "--no-fund", "--cache", str(HERE / ".npm-cache")]
        try:
            done = subprocess.run(command, cwd=HERE, capture_output=True, text=True,
                                  timeout=300)
        except subprocess.TimeoutExpired:
            _skip_or_fail("npm install of @base44/sdk timed out (is the npm registry "
                          "reachable?)")
        if done.returncode != 0 or _installed_version() != SDK_VERSION:
            _skip_or_fail(f"npm could not install @base44/sdk@{SDK_VERSION} (no registry?): "
                          + (done.stderr or done.stdout)[-500:])
    return node


def run_sdk(node: str, spec: dict[str, Any], timeout: float = 60) -> list[dict[str, Any]]:
    """Run tests/e2e/sdk_calls.mjs with ``spec``; returns one result per call."""
    done = subprocess.run([node, str(HERE / "sdk_calls.mjs")], input=json.dumps(spec),
                          capture_output=True, text=True, cwd=HERE, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Portal:
    url: str
    upstream: Upstream
    log: Path

    def tail(self) -> str:
        try:
            return self.log.read_text()[-3000:]
        except OSError:
            return ""


@pytest.fixture(scope="module")
def portal(django_db_setup: Any, django_db_blocker: Any,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        pytest.skip("needs PostgreSQL (gunicorn must reach the test database)")
    upstream = Upstream()
    with django_db_blocker.unblock():
        db = connection.settings_dict
    port = _free_port()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": (f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/"
                         f"{db['NAME']}"),
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEY),
        "EGRESS_ALLOW_CIDRS": "127.0.0.0/8",
        "EGRESS_ALLOWED_PORTS": f"80,443,{upstream.port}",
        "PROXY_RATE_LIMIT_PER_MINUTE": "0",
        "PROXY_TIMEOUT_SECONDS": "1.5",
        "LOG_LEVEL": "WARNING",
    }
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application",
             "--bind", f"127.0.0.1:{port}", "--workers", "3", "--timeout", "30",
             "--graceful-timeout", "2"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    portal = Portal(url=url, upstream=upstream, log=log)
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
                raise RuntimeError("gunicorn did not start:\n" + portal.tail())
            time.sleep(0.2)
        yield portal
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        upstream.close()
