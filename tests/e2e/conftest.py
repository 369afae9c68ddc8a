"""End-to-end fixtures: the real ``@base44/sdk@0.8.50`` (node) against the portal under
gunicorn, on the pytest PostgreSQL database, calling a local upstream (shared machinery in
tests/sdk_e2e.py).

- ``sdk_node``: node, with the pinned SDK installed.
- ``portal``: gunicorn on the test database, so tests must commit their data
  (``django_db(transaction=True)``); EGRESS_ALLOW_CIDRS opens 127.0.0.0/8 for the upstream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import sdk_e2e
from tests.integrations.egress_support import Upstream

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def sdk_node() -> str:
    """Path of node, with the pinned SDK installed next to the e2e scripts."""
    return sdk_e2e.install_sdk()


def run_sdk(node: str, spec: dict[str, Any], timeout: float = 60) -> list[dict[str, Any]]:
    """Run tests/e2e/sdk_calls.mjs with ``spec``; returns one result per call."""
    return sdk_e2e.run_script(node, HERE / "sdk_calls.mjs", spec, timeout)


@dataclass
class Portal:
    url: str
    upstream: Upstream
    log: Path

    def tail(self) -> str:
        return sdk_e2e.tail(self.log)


@pytest.fixture(scope="module")
def portal(django_db_setup: Any, django_db_blocker: Any,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    upstream = Upstream()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {
        "EGRESS_ALLOW_CIDRS": "127.0.0.0/8",
        "EGRESS_ALLOWED_PORTS": f"80,443,{upstream.port}",
        "PROXY_RATE_LIMIT_PER_MINUTE": "0",
        "PROXY_TIMEOUT_SECONDS": "1.5",
    }
    try:
        with sdk_e2e.gunicorn_portal(django_db_blocker, log, env) as url:
            yield Portal(url=url, upstream=upstream, log=log)
    finally:
        upstream.close()
