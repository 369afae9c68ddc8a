"""Secrets never leak from the proxy: configured (vault) header values and request bodies are
never in the logs, the call log, the database in plain text, or our own answers (errors
included) — whatever the outcome of the call."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import pytest
from django.apps import apps
from django.db import connection

from integrations.models import CallLog
from tests import canary as canary_walker
from tests.integrations import proxy_support
from tests.integrations.egress_support import Upstream, raw, slow
from tests.integrations.proxy_support import call_url, make_integration
from workspaces import credits

# the shared fixtures of the proxy tests
_fresh_proxy_state = proxy_support._fresh_proxy_state
egress_open = proxy_support.egress_open
upstream = proxy_support.upstream

pytestmark = pytest.mark.django_db


def scan_database(values: list[str]) -> list[str]:
    """tests.canary.scan_database over the tables that exist (apps still being written may
    have models without migrations yet)."""
    existing = set(connection.introspection.table_names())
    real = apps.get_models

    def migrated(*args: Any, **kwargs: Any) -> list[Any]:
        return [m for m in real(*args, **kwargs) if m._meta.db_table in existing]

    apps.get_models = migrated  # type: ignore[method-assign]
    try:
        return canary_walker.scan_database(values)
    finally:
        apps.get_models = real  # type: ignore[method-assign]


def canary(label: str) -> str:
    return f"canary-{label}-{secrets.token_hex(8)}"


def test_canaries_never_leak(personas, sdk, upstream, egress_open, caplog):
    key, bearer, body_secret, app_header = (canary(x) for x in ("key", "auth", "body", "hdr"))
    egress_open.PROXY_TIMEOUT_SECONDS = 0.3
    upstream.routes.update({
        "/v1/pets": lambda h: h.reply(200, b'{"ok": true}', [("Content-Type",
                                                              "application/json")]),
        "/v1/status/500": lambda h: h.reply(500, b"upstream failed"),
        "/v1/slow": slow(1),
        "/v1/garbage": raw(b"garbage\r\n\r\n"),
    })
    make_integration(personas.workspace, upstream.url("/v1"), headers=[
        ("X-Api-Key", key, True), ("Authorization", f"Bearer {bearer}", True),
        ("X-Tenant", "acme", False)])
    closed = Upstream()
    port = closed.port
    closed.close()
    egress_open.EGRESS_ALLOWED_PORTS = [80, 443, upstream.port, port]
    make_integration(personas.workspace, f"http://127.0.0.1:{port}", slug="down",
                     headers=[("X-Api-Key", key, True)])
    make_integration(personas.workspace, "http://10.0.0.1", slug="private",
                     headers=[("X-Api-Key", key, True)])
    client = sdk(personas.app)
    app = personas.app
    calls = [
        ("pets", "post:/pets", {"payload": {"name": body_secret},
                                "headers": {"X-Trace": app_header}}),
        ("pets", "get:/status/{code}", {"path_params": {"code": 500}}),
        ("pets", "get:/slow", {}),
        ("pets", "get:/garbage", {}),
        ("pets", "post:/pets", {"payload": {"name": 5, "tag": body_secret}}),  # 400
        ("pets", "get:/pets", {"headers": {"X-Api-Key": key, "X-Bad": f"{key}\r\nX: 1"}}),
        ("down", "get:/pets", {}),
        ("private", "get:/pets", {}),
    ]
    answers = []
    with caplog.at_level(logging.DEBUG):
        for slug, op, body in calls:
            r = client.post(call_url(app.public_id, slug, op), body, format="json")
            answers.append(r.content.decode() + str(r.headers))
        credits.adjust(personas.workspace, -credits.balance(personas.workspace),
                       reason="empty", idempotency_key="empty")
        r = client.post(call_url(app.public_id, "pets", "get:/pets"), {}, format="json")
        assert r.status_code == 402
        answers.append(r.content.decode() + str(r.headers))

    statuses = list(CallLog.objects.order_by("id").values_list("response_status", flat=True))
    assert statuses == [200, 200, 504, 502, 400, 400, 502, 502, 402]
    # the upstream did receive the configured values (that is the point)...
    assert upstream.seen[0].headers["x-api-key"] == key
    assert upstream.seen[0].headers["authorization"] == f"Bearer {bearer}"
    # ...and they appear nowhere else
    secret_values = [key, bearer, body_secret]
    for text in answers:
        for value in secret_values:
            assert value not in text
    for value in [*secret_values, app_header]:
        assert value not in caplog.text
    rows = [str(list(r.values())) for r in CallLog.objects.values()]
    for value in [*secret_values, app_header]:
        assert not any(value in row for row in rows)
    assert scan_database(secret_values) == []
