"""Connector test fixtures: a real OAuth 2.0 authorization server (django-oauth-toolkit, in its
own process, see tests/oauth_provider) and settings pointing platform providers at it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = "switchboard-platform"
CLIENT_SECRET = "platform-client-secret-CANARY-7f3a"
CLIENT_ID_2 = "workspace-own-app"
CLIENT_SECRET_2 = "workspace-client-secret-CANARY-91bd"
CALLBACK = "http://testserver/connectors/oauth/callback/"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Provider:
    url: str
    port: int
    proc: subprocess.Popen[bytes]

    def endpoint(self, path: str) -> str:
        return self.url + path

    def stats(self) -> dict[str, int]:
        with urllib.request.urlopen(self.url + "/test/stats", timeout=5) as resp:  # noqa: S310
            return json.loads(resp.read())

    def configure(self, **values: Any) -> None:
        req = urllib.request.Request(self.url + "/test/config", data=json.dumps(values).encode(),
                                     method="POST")
        urllib.request.urlopen(req, timeout=5).read()  # noqa: S310

    def browser(self, username: str = "alice") -> requests.Session:
        session = requests.Session()
        session.get(f"{self.url}/login/", params={"username": username}, timeout=10)
        return session

    def authorize(self, authorize_url: str, username: str = "alice") -> str:
        """Follow the authorize URL as a signed-in resource owner (consent is skipped);
        returns the redirect back to us (the callback URL with code and state)."""
        resp = self.browser(username).get(authorize_url, allow_redirects=False, timeout=10)
        assert resp.status_code == 302, (resp.status_code, resp.text[:500])
        return urljoin(authorize_url, resp.headers["Location"])

    def me(self, token: str) -> int:
        return requests.get(self.url + "/api/me", headers={"Authorization": f"Bearer {token}"},
                            timeout=10).status_code


@pytest.fixture(scope="session")
def oauth_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    pytest.importorskip("oauth2_provider", reason="needs django-oauth-toolkit (the dev extra)")
    port = free_port()
    db = tmp_path_factory.mktemp("provider") / "provider.sqlite3"
    env = {**os.environ, "PROVIDER_DB": str(db), "PROVIDER_CLIENT_ID": CLIENT_ID,
           "PROVIDER_CLIENT_SECRET": CLIENT_SECRET, "PROVIDER_CLIENT_ID_2": CLIENT_ID_2,
           "PROVIDER_CLIENT_SECRET_2": CLIENT_SECRET_2,
           "PROVIDER_REDIRECT_URIS": f"{CALLBACK} http://127.0.0.1/connectors/oauth/callback/"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.Popen([sys.executable, "-m", "tests.oauth_provider.serve", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    provider = Provider(url=f"http://127.0.0.1:{port}", port=port, proc=proc)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                provider.stats()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode() if proc.stdout else ""
                    raise RuntimeError("the OAuth provider did not start:\n" + out[-3000:])
                time.sleep(0.2)
        yield provider
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def provider_overrides(provider: Provider, api_url: str | None = None) -> dict[str, Any]:
    oauth = {"authorize_url": provider.endpoint("/o/authorize/"),
             "token_url": provider.endpoint("/o/token/"),
             "revocation_url": provider.endpoint("/o/revoke_token/"),
             "scopes": ["read", "write"], "authorize_params": {}}
    return {
        "github": {**oauth, "hosts": {"api": api_url or provider.url}},
        "twitter": {**oauth, "hosts": {"api": api_url or provider.url,
                                       "upload": api_url or provider.url}},
    }


@pytest.fixture
def connector_settings(settings: Any, oauth_provider: Provider) -> Any:
    settings.EGRESS_ALLOW_CIDRS = ["127.0.0.0/8"]
    settings.EGRESS_ALLOWED_PORTS = [80, 443, oauth_provider.port]
    settings.CONNECTOR_PROVIDER_OVERRIDES = provider_overrides(oauth_provider)
    settings.CONNECTOR_CLIENTS = {t: {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
                                  for t in ("github", "twitter")}
    settings.CONNECTOR_CALLBACK_URL = CALLBACK
    return settings


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
