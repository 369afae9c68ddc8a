"""Shared by the concurrency-model, bulkhead and pool tests: the portal under the production
gunicorn config (gevent workers) on the test database, an upstream whose calls hang until
released, and an integration + app + service token committed to the database."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integrations import openapi
from integrations.models import SpecImport, WorkspaceIntegration
from tests import sdk_e2e
from tests.factories import UserFactory, make_app, shared_workspace
from tests.integrations.egress_support import Handler, Upstream
from workspaces import credits
from workspaces import services as ws_services

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "T", "version": "1"},
    "paths": {"/hang": {"get": {"responses": {"200": {"description": "ok"}}}},
              "/fast": {"get": {"responses": {"200": {"description": "ok"}}}}},
}
KEYS = ["get:/hang", "get:/fast"]


@dataclass
class Gate:
    """The ``/hang`` route: each call waits until ``open()``; counts calls in progress."""

    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    active: int = 0
    peak: int = 0
    hold: float = 30.0  # wait at most this long (or until released)

    def route(self, h: Handler) -> None:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            self.released.wait(self.hold)
            h.reply(200, b'{"ok": true}', [("Content-Type", "application/json")])
        finally:
            with self.lock:
                self.active -= 1

    def wait_active(self, n: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while self.active < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"only {self.active} of {n} calls reached the upstream")
            time.sleep(0.02)

    def open(self) -> None:
        self.released.set()


def fast_route(h: Handler) -> None:
    h.reply(200, b'{"fast": true}', [("Content-Type", "application/json")])


@dataclass
class Caller:
    app_id: str
    token: str
    workspace: Any
    app: Any
    integration: Any


def make_caller(upstream: Upstream, *, workspace: Any = None, slug: str = "hangy",
                owner: Any = None) -> Caller:
    """An app with a service token and credits, and (in its workspace) an integration of the
    upstream with ``/hang`` and ``/fast``; all committed."""
    owner = owner or UserFactory()
    ws = workspace or shared_workspace(owner, "Load", plan="pro")
    credits.adjust(ws, 10_000, reason="test", idempotency_key=f"t-{ws.public_id}-{slug}")
    app = make_app(ws, owner, name=f"App {slug}")
    _, token = ws_services.create_service_token(app, actor=owner, name="t")
    spec_import = SpecImport.objects.create(workspace=ws, source="paste",
                                            raw_text=json.dumps(SPEC), status="ready",
                                            operations=[{"key": k} for k in KEYS])
    integration = WorkspaceIntegration.objects.create(
        workspace=ws, slug=slug, name=slug, base_url=upstream.url("/api"), spec=spec_import,
        selected_keys=KEYS, operations_doc=openapi.extract_operations(SPEC, KEYS))
    return Caller(app.public_id, token, ws, app, integration)


def call(url: str, caller: Caller, operation: str = "get:/hang", slug: str = "hangy",
         timeout: float = 40) -> tuple[int, dict[str, str], dict[str, Any]]:
    """One proxied call over a real socket: (status, headers, JSON body)."""
    request = urllib.request.Request(
        f"{url}/api/apps/{caller.app_id}/integrations/custom/{slug}/{operation}",
        data=b"{}", method="POST",
        headers={"Authorization": f"Bearer {caller.token}", "Content-Type": "application/json",
                 "X-App-Id": caller.app_id})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"{}")


def get(url: str, timeout: float = 5, cookie: str | None = None) -> tuple[int, float]:
    """GET a page over a real socket: (status, seconds)."""
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    started = time.monotonic()
    with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
        resp.read()
        return resp.status, time.monotonic() - started


class Background:
    """Run calls in threads; ``results`` collects (status, headers, body)."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.results: list[tuple[int, dict[str, str], dict[str, Any]]] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()

    def start(self, fn: Any, *args: Any) -> None:
        def run() -> None:
            try:
                result = fn(*args)
                with self._lock:
                    self.results.append(result)
            except BaseException as exc:  # noqa: BLE001
                with self._lock:
                    self.errors.append(exc)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        self.threads.append(thread)

    def join(self, timeout: float = 60) -> None:
        for thread in self.threads:
            thread.join(timeout)


@contextmanager
def portal(django_db_blocker: Any, log: Path, upstream: Upstream, env: dict[str, str],
           workers: int = 1) -> Iterator[str]:
    full = {
        "EGRESS_ALLOW_CIDRS": "127.0.0.0/8",
        "EGRESS_ALLOWED_PORTS": f"80,443,{upstream.port}",
        "PROXY_RATE_LIMIT_PER_MINUTE": "0",
        "PROXY_TIMEOUT_SECONDS": "30",
        **env,
    }
    with sdk_e2e.gunicorn_portal(django_db_blocker, log, full, workers=workers) as url:
        yield url
