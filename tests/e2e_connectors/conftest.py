"""Fixtures for the connectors end to end test: the real SDK (node, pinned in package.json),
the portal under gunicorn on the pytest PostgreSQL database, the django-oauth-toolkit
authorization server (tests/oauth_provider) and a local upstream API for callApi."""

from __future__ import annotations

import json
import os
import shutil
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

from tests.connectors.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    Provider,
    free_port,
    oauth_provider,  # noqa: F401  (fixture)
    provider_overrides,
)
from tests.integrations.egress_support import Upstream

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SDK_VERSION = "0.8.50"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _skip_or_fail(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


def _installed() -> str | None:
    try:
        return json.loads((HERE / "node_modules/@base44/sdk/package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture(scope="session")
def node() -> str:
    node_bin, npm = shutil.which("node"), shutil.which("npm")
    if not node_bin or not npm:
        _skip_or_fail("needs node and npm for the end-to-end SDK tests")
    assert node_bin and npm
    if _installed() != SDK_VERSION:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--cache",
                               str(HERE / ".npm-cache")], cwd=HERE, capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0 or _installed() != SDK_VERSION:
            _skip_or_fail(f"npm could not install @base44/sdk@{SDK_VERSION}: "
                          + (done.stderr or done.stdout)[-500:])
    return node_bin


def run_sdk(node_bin: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    done = subprocess.run([node_bin, str(HERE / "connectors.mjs")], input=json.dumps(spec),
                          capture_output=True, text=True, cwd=HERE, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@dataclass
class Portal:
    url: str
    upstream: Upstream
    provider: Provider
    log: Path

    def tail(self) -> str:
        try:
            return self.log.read_text()[-3000:]
        except OSError:
            return ""


@pytest.fixture(scope="module")
def portal(django_db_setup: Any, django_db_blocker: Any, oauth_provider: Provider,  # noqa: F811
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    if not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        pytest.skip("needs PostgreSQL (gunicorn must reach the test database)")
    upstream = Upstream()
    with django_db_blocker.unblock():
        db = connection.settings_dict
    port = free_port()
    log = tmp_path_factory.mktemp("gunicorn-connectors") / "gunicorn.log"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    overrides = provider_overrides(oauth_provider)
    overrides["twitter"]["hosts"] = {"api": upstream.url("").rstrip("/"),
                                     "upload": upstream.url("/up")}
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": (f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/"
                         f"{db['NAME']}"),
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEY),
        "EGRESS_ALLOW_CIDRS": "127.0.0.0/8",
        "EGRESS_ALLOWED_PORTS": f"80,443,{upstream.port},{oauth_provider.port}",
        "CONNECTOR_PROVIDER_OVERRIDES": json.dumps(overrides),
        "CONNECTOR_GITHUB_CLIENT_ID": CLIENT_ID,
        "CONNECTOR_GITHUB_CLIENT_SECRET": CLIENT_SECRET,
        "CONNECTOR_TWITTER_CLIENT_ID": CLIENT_ID,
        "CONNECTOR_TWITTER_CLIENT_SECRET": CLIENT_SECRET,
        "CONNECTOR_CALL_TIMEOUT_SECONDS": "1.0",
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "LOG_LEVEL": "WARNING",
    }
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
             f"127.0.0.1:{port}", "--workers", "3", "--timeout", "30", "--graceful-timeout",
             "2"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    portal = Portal(url=f"http://127.0.0.1:{port}", upstream=upstream, provider=oauth_provider,
                    log=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(portal.url + "/healthz", timeout=2) as resp:  # noqa: S310
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
