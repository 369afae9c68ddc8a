"""Background work of connectors: the beat refresh giving up after repeated failures (e-mail,
notice on the page, a clear error for apps, recovery by reconnecting) and the purge of old
OAuth states (on a real Celery worker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from connectors import oauth, services, tasks
from connectors.models import Connection, OAuthState

from .conftest import local_path
from .support import connect_platform, make_connection


def _token_url(app) -> str:  # type: ignore[no-untyped-def]
    return f"/api/apps/{app.public_id}/external-auth/tokens/github"


@pytest.mark.django_db
def test_beat_gives_up_after_repeated_failures_and_tells_the_owner(
        client, personas, sdk, connector_settings, oauth_provider, settings,
        django_capture_on_commit_callbacks):
    settings.SITE_URL = "https://portal.example.com"
    settings.CONNECTOR_MAX_REFRESH_FAILURES = 3
    app = personas.app
    # expires in 10 minutes: inside the beat window (15), outside the on-access margin (5)
    conn = make_connection(app, access="AT-still-valid", refresh="RT-revoked-at-provider",
                           expires_in=600)
    before = oauth_provider.stats().get("token:refresh_token", 0)
    for attempt in (1, 2):
        with django_capture_on_commit_callbacks(execute=True):
            tasks.refresh_expiring_connections.delay().get()
        conn.refresh_from_db()
        assert (conn.status, conn.refresh_failures, conn.last_error) == (
            "active", attempt, "invalid_grant")
        # still valid: apps keep getting it meanwhile; nobody is bothered yet
        assert sdk(app).get(_token_url(app)).json()["access_token"] == "AT-still-valid"
        assert mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        tasks.refresh_expiring_connections.delay().get()
    assert oauth_provider.stats()["token:refresh_token"] == before + 3
    conn.refresh_from_db()
    assert conn.status == "needs_reconnect"

    # e-mail to the app's owner, with a link to the page where they reconnect
    page_url = reverse("app-connectors", args=[personas.workspace.public_id, app.public_id])
    [email] = mail.outbox
    assert email.to == [personas.owner.email]
    assert email.subject == "Reconnect github for Storefront"
    assert f"https://portal.example.com{page_url}" in email.body
    assert "invalid_grant" in email.body and "RT-revoked" not in email.body

    # apps get a clear error instead of the stale token, and no more token-endpoint calls
    resp = sdk(app).get(_token_url(app))
    assert resp.status_code == 409
    assert resp["X-Base44-Connector-Error"] == "connector_needs_reconnect"
    assert "AT-still-valid" not in resp.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.refresh_expiring_connections.delay().get()
    assert oauth_provider.stats()["token:refresh_token"] == before + 3
    assert len(mail.outbox) == 1  # told once

    # the notice on the app's Connectors page
    client.force_login(personas.owner)
    html = client.get(page_url).content.decode()
    assert 'data-testid="needs-reconnect"' in html and "stopped working" in html

    # reconnecting through the provider clears it all
    conn = connect_platform(client, oauth_provider, app)
    assert (conn.status, conn.refresh_failures, conn.last_error) == ("active", 0, "")
    assert 'data-testid="needs-reconnect"' not in client.get(page_url).content.decode()
    got = sdk(app).get(_token_url(app))
    assert got.status_code == 200 and oauth_provider.me(got.json()["access_token"]) == 200


@pytest.mark.django_db
def test_connection_without_refresh_token_needs_reconnect_once_expired(personas, sdk,
                                                                       connector_settings):
    make_connection(personas.app, refresh=None, expires_in=-5)
    resp = sdk(personas.app).get(_token_url(personas.app))
    assert resp.status_code == 409 and resp.json()["code"] == "connector_needs_reconnect"
    assert "no_refresh_token" in resp.json()["detail"]


def _state(app, *, expired_ago: timedelta | None, used: bool = False) -> OAuthState:  # type: ignore[no-untyped-def]
    now = timezone.now()
    expires = now + services.state_ttl() if expired_ago is None else now - expired_ago
    return OAuthState.objects.create(
        digest=oauth.state_digest(oauth.new_state()), kind="platform", app=app,
        integration_type="github", redirect_uri="http://testserver/cb", expires_at=expires,
        used_at=now - timedelta(days=3) if used else None)


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_purge_task_on_a_real_worker_removes_only_long_expired_states(
        client, personas, connector_settings, oauth_provider, celery_worker_real):
    assert {"task": "connectors.tasks.purge_expired_oauth_states"}.items() <= \
        django_settings.CELERY_BEAT_SCHEDULE["connector-state-purge"].items()
    app = personas.app
    old_used = _state(app, expired_ago=timedelta(days=2), used=True)
    old_unused = _state(app, expired_ago=timedelta(days=2))
    recent = _state(app, expired_ago=timedelta(hours=1))  # kept: a late callback says "expired"
    live = _state(app, expired_ago=None)

    assert tasks.purge_expired_oauth_states.delay().get(timeout=30) == 2
    assert set(OAuthState.objects.values_list("pk", flat=True)) == {recent.pk, live.pk}
    assert not OAuthState.objects.filter(pk__in=[old_used.pk, old_unused.pk]).exists()
    assert tasks.purge_expired_oauth_states.delay().get(timeout=30) == 0  # safe to run twice

    # a callback whose state was purged is refused, and stores nothing
    client.force_login(personas.owner)
    resp = client.post(reverse("app-connectors", args=[personas.workspace.public_id,
                                                       app.public_id]),
                       {"action": "connect", "integration_type": "github"})
    callback = oauth_provider.authorize(resp["Location"])
    OAuthState.objects.filter(app=app).exclude(pk__in=[recent.pk, live.pk]).update(
        expires_at=timezone.now() - timedelta(days=2))
    assert tasks.purge_expired_oauth_states.delay().get(timeout=30) == 1
    done = client.get(local_path(callback))
    assert done.status_code == 400 and b"unknown or was tampered with" in done.content
    assert not Connection.objects.exists()
