"""Refresh on access, rotation, failures, the beat task, and the single-flight race."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection as db_connection
from django.utils import timezone

from connectors import services, tasks
from connectors.models import Connection, TokenHandoff

from .support import connect_platform, expire, make_connection


def _token_url(app) -> str:
    return f"/api/apps/{app.public_id}/external-auth/tokens/github"


@pytest.mark.django_db
def test_expiring_token_is_refreshed_and_rotated(client, personas, sdk, connector_settings,
                                                 oauth_provider):
    client.force_login(personas.owner)
    conn = connect_platform(client, oauth_provider, personas.app)
    old_access, old_refresh = conn.access_token.reveal(), conn.refresh_token.reveal()
    expire(conn, seconds=120)  # inside the 5-minute margin, still valid
    before = oauth_provider.stats().get("token:refresh_token", 0)

    body = sdk(personas.app).get(_token_url(personas.app)).json()

    assert oauth_provider.stats()["token:refresh_token"] == before + 1
    conn.refresh_from_db()
    assert body["access_token"] == conn.access_token.reveal() != old_access
    assert conn.refresh_token.reveal() != old_refresh  # rotated and saved
    assert conn.expires_at > timezone.now() + timedelta(minutes=30)
    assert conn.last_refresh_at is not None
    assert oauth_provider.me(body["access_token"]) == 200
    # the old refresh token is dead at the provider (rotation), the new one works
    expire(conn)
    assert sdk(personas.app).get(_token_url(personas.app)).status_code == 200


@pytest.mark.django_db
def test_fresh_token_is_not_refreshed(personas, sdk, connector_settings, oauth_provider):
    make_connection(personas.app, expires_in=3600)
    before = oauth_provider.stats().get("token:refresh_token", 0)
    assert sdk(personas.app).get(_token_url(personas.app)).json()["access_token"] == "AT-plain"
    assert oauth_provider.stats().get("token:refresh_token", 0) == before


@pytest.mark.django_db
def test_repeated_invalid_grant_marks_needs_reconnect(personas, sdk, connector_settings,
                                                      oauth_provider, settings,
                                                      django_capture_on_commit_callbacks):
    settings.CONNECTOR_MAX_REFRESH_FAILURES = 2
    conn = make_connection(personas.app, refresh="RT-unknown-to-provider", expires_in=-60)
    client = sdk(personas.app)
    first = client.get(_token_url(personas.app))
    assert first.status_code == 502 and first.json()["code"] == "connector_refresh_failed"
    with django_capture_on_commit_callbacks(execute=True):
        second = client.get(_token_url(personas.app))
    assert second.status_code == 409
    assert second["X-Base44-Connector-Error"] == "connector_needs_reconnect"
    assert "reconnect" in second.json()["detail"] and "invalid_grant" in second.json()["detail"]
    conn.refresh_from_db()
    assert conn.status == "needs_reconnect" and conn.refresh_failures == 2
    assert [m.to for m in mail.outbox] == [[personas.owner.email]]
    # no further token-endpoint calls once marked
    before = oauth_provider.stats().get("token:refresh_token", 0)
    assert client.get(_token_url(personas.app)).status_code == 409
    assert oauth_provider.stats().get("token:refresh_token", 0) == before
    assert not TokenHandoff.objects.exists()


@pytest.mark.django_db
def test_transient_failure_keeps_a_still_valid_token(personas, sdk, settings):
    settings.CONNECTOR_PROVIDER_OVERRIDES = {"github": {
        "token_url": "http://127.0.0.1:9/o/token/", "hosts": {"api": "http://127.0.0.1:9"}}}
    settings.CONNECTOR_CLIENTS = {"github": {"client_id": "x", "client_secret": "y"}}
    settings.EGRESS_ALLOW_CIDRS = ["127.0.0.0/8"]
    settings.EGRESS_ALLOWED_PORTS = [9]
    make_connection(personas.app, expires_in=60)
    resp = sdk(personas.app).get(_token_url(personas.app))
    assert resp.status_code == 200 and resp.json()["access_token"] == "AT-plain"
    assert Connection.objects.get().refresh_failures == 1


@pytest.mark.django_db
def test_beat_task_refreshes_ahead_of_expiry(client, personas, connector_settings,
                                            oauth_provider):
    client.force_login(personas.owner)
    conn = connect_platform(client, oauth_provider, personas.app)
    old = conn.access_token.reveal()
    expire(conn, seconds=600)  # outside the on-access margin, inside the beat window
    assert tasks.refresh_expiring_connections.delay().get() == 1
    conn.refresh_from_db()
    assert conn.access_token.reveal() != old
    assert tasks.refresh_expiring_connections.delay().get() == 0  # safe to run twice


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_accesses_make_one_refresh_call(client, personas, connector_settings,
                                                   oauth_provider, sdk):
    """Many requests at once for an expiring token: exactly one token-endpoint call; every
    request gets the new token."""
    client.force_login(personas.owner)
    conn = connect_platform(client, oauth_provider, personas.app)
    expire(conn, seconds=30)
    oauth_provider.configure(token_delay=0.3)  # widen the race window
    before = oauth_provider.stats().get("token:refresh_token", 0)
    clients = [sdk(personas.app) for _ in range(12)]
    results: list[tuple[int, str]] = []
    barrier = threading.Barrier(len(clients))

    def worker(c) -> None:  # type: ignore[no-untyped-def]
        try:
            barrier.wait()
            r = c.get(_token_url(personas.app))
            results.append((r.status_code, r.json().get("access_token", "")))
        finally:
            db_connection.close()

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        oauth_provider.configure(token_delay=0)
    assert oauth_provider.stats()["token:refresh_token"] == before + 1
    conn.refresh_from_db()
    assert results == [(200, conn.access_token.reveal())] * len(clients)
    assert oauth_provider.me(conn.access_token.reveal()) == 200


def test_refresh_margin_setting(settings):
    settings.CONNECTOR_REFRESH_MARGIN_SECONDS = 42
    assert services.refresh_margin() == timedelta(seconds=42)


@pytest.mark.django_db
def test_a_provider_outage_never_marks_needs_reconnect(personas, sdk, settings,
                                                       django_capture_on_commit_callbacks):
    settings.CONNECTOR_PROVIDER_OVERRIDES = {"github": {
        "token_url": "http://127.0.0.1:9/o/token/", "hosts": {"api": "http://127.0.0.1:9"}}}
    settings.CONNECTOR_CLIENTS = {"github": {"client_id": "x", "client_secret": "y"}}
    settings.EGRESS_ALLOW_CIDRS = ["127.0.0.0/8"]
    settings.EGRESS_ALLOWED_PORTS = [9]
    settings.CONNECTOR_MAX_REFRESH_FAILURES = 2
    conn = make_connection(personas.app, expires_in=-5)  # expired: a refresh is required
    for attempt in range(1, 5):
        with django_capture_on_commit_callbacks(execute=True):
            resp = sdk(personas.app).get(_token_url(personas.app))
        assert resp.status_code == 502
        assert resp["X-Base44-Connector-Error"] == "connector_refresh_failed"
        assert "try again shortly" in resp.json()["detail"]
        conn.refresh_from_db()
        assert (conn.status, conn.refresh_failures, conn.last_error) == (
            "active", attempt, "endpoint_unreachable")
    assert mail.outbox == []
