"""Fixtures for the connectors end to end test: the real SDK (node, pinned in
tests/package.json), the portal under gunicorn on the pytest PostgreSQL database (shared
machinery in tests/sdk_e2e.py), the django-oauth-toolkit authorization server
(tests/oauth_provider) and a local upstream API for callApi."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import sdk_e2e
from tests.connectors.conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    Provider,
    oauth_provider,  # noqa: F401  (fixture)
    provider_overrides,
)
from tests.integrations.egress_support import Upstream

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def node() -> str:
    return sdk_e2e.install_sdk()


def run_sdk(node_bin: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    return sdk_e2e.run_script(node_bin, HERE / "connectors.mjs", spec)


@dataclass
class Portal:
    url: str
    upstream: Upstream
    provider: Provider
    log: Path

    def tail(self) -> str:
        return sdk_e2e.tail(self.log)


@pytest.fixture(scope="module")
def portal(django_db_setup: Any, django_db_blocker: Any, oauth_provider: Provider,  # noqa: F811
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    upstream = Upstream()
    log = tmp_path_factory.mktemp("gunicorn-connectors") / "gunicorn.log"
    overrides = provider_overrides(oauth_provider)
    overrides["twitter"]["hosts"] = {"api": upstream.url("").rstrip("/"),
                                     "upload": upstream.url("/up")}
    env = {
        "EGRESS_ALLOW_CIDRS": "127.0.0.0/8",
        "EGRESS_ALLOWED_PORTS": f"80,443,{upstream.port},{oauth_provider.port}",
        "CONNECTOR_PROVIDER_OVERRIDES": json.dumps(overrides),
        "CONNECTOR_GITHUB_CLIENT_ID": CLIENT_ID,
        "CONNECTOR_GITHUB_CLIENT_SECRET": CLIENT_SECRET,
        "CONNECTOR_TWITTER_CLIENT_ID": CLIENT_ID,
        "CONNECTOR_TWITTER_CLIENT_SECRET": CLIENT_SECRET,
        "CONNECTOR_CALL_TIMEOUT_SECONDS": "1.0",
        "CELERY_TASK_ALWAYS_EAGER": "true",
    }
    try:
        with sdk_e2e.gunicorn_portal(django_db_blocker, log, env) as url:
            yield Portal(url=url, upstream=upstream, provider=oauth_provider, log=log)
    finally:
        upstream.close()
