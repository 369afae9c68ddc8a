"""Token refresh, single-flight (see the package's docstring): a local lock per connection
for the threads of a process, the row lock for processes; a connection whose refresh keeps
failing needs reconnecting (audit entry, e-mail to the app's owner); the beat task's sweep."""

from __future__ import annotations

import threading
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from secrets_vault.crypto import DecryptionFailed
from workspaces import audit
from workspaces.models import Membership, Role
from workspaces.services import queue_email_text

from .. import oauth
from ..models import (
    Connection,
)
from .base import ConnectorError, log, max_refresh_failures, refresh_margin
from .endpoints import endpoints_for


def _is_expiring(conn: Connection, within: timedelta | None = None) -> bool:
    window = refresh_margin() if within is None else within
    return conn.expires_at is not None and conn.expires_at <= timezone.now() + window


def _needs_reconnect_error(conn: Connection) -> ConnectorError:
    return ConnectorError(f"The {conn.label} connection must be reconnected by the app owner "
                          f"(refreshing its token failed: {conn.last_error or 'unknown'}).",
                          "connector_needs_reconnect", 409)


_LOCAL_LOCKS: dict[int, threading.Lock] = {}
_LOCAL_LOCKS_GUARD = threading.Lock()


def _local_lock(pk: int) -> threading.Lock:
    with _LOCAL_LOCKS_GUARD:
        if len(_LOCAL_LOCKS) > 10_000:
            _LOCAL_LOCKS.clear()
        return _LOCAL_LOCKS.setdefault(pk, threading.Lock())


def refresh_connection(pk: int, *, within: timedelta | None = None) -> Connection:
    """Single-flight refresh: threads of this process queue on a local lock, processes on the
    row lock (PostgreSQL; SQLite has no row locks, so there only the local lock applies).
    Raises ConnectorError when the connection is unusable; a transient failure while the old
    token is still valid returns it unchanged."""
    with _local_lock(pk):
        return _refresh_locked(pk, within=within)


def _refresh_locked(pk: int, *, within: timedelta | None) -> Connection:
    failure: oauth.OAuthError | None = None
    with transaction.atomic():
        conn = (Connection.objects.select_for_update(of=("self",))
                .select_related("app", "app__workspace", "connector").get(pk=pk))
        if conn.status == Connection.Status.NEEDS_RECONNECT:
            raise _needs_reconnect_error(conn)
        if not _is_expiring(conn, within):
            return conn  # someone refreshed while we waited for the lock
        if conn.refresh_token is None:
            failure = oauth.OAuthError("no_refresh_token", "the provider gave no refresh token")
        else:
            endpoints = endpoints_for(conn)
            try:
                tokens = oauth.refresh(endpoints.token_url, endpoints.client,
                                       refresh_token=conn.refresh_token.reveal("refresh token"),
                                       token_key=endpoints.token_key)
            except oauth.OAuthError as exc:
                failure = exc
            except DecryptionFailed as exc:
                failure = oauth.OAuthError("token_unavailable", str(exc))
        if failure is None:
            conn.access_token = tokens.access_token
            if tokens.refresh_token:  # rotation: the new one replaces the old, atomically
                conn.refresh_token = tokens.refresh_token
            conn.expires_at = tokens.expires_at
            if tokens.scope:
                conn.scopes = tokens.scope[:1000]
            conn.last_refresh_at = timezone.now()
            conn.refresh_failures = 0
            conn.last_error = ""
            conn.save()
            return conn
        conn.refresh_failures += 1
        conn.last_error = failure.error[:300]
        # Give up after repeated failures, the latest a refusal by the provider (invalid_grant,
        # invalid_client, a redirect...). A provider outage (network, 5xx, 429) never marks
        # every connection as needing reconnection: apps get connector_refresh_failed and the
        # next access or beat run tries again.
        give_up = failure.error == "no_refresh_token" or (
            not failure.transient and conn.refresh_failures >= max_refresh_failures())
        if give_up:
            conn.status = Connection.Status.NEEDS_RECONNECT
        conn.save(update_fields=["refresh_failures", "last_error", "status", "updated_at"])
        if give_up:
            _notify_needs_reconnect(conn)
    log.warning("connector refresh failed for %s (app %s): %s", conn.label,
                conn.app.public_id, failure.error)
    if conn.status == Connection.Status.NEEDS_RECONNECT:
        raise _needs_reconnect_error(conn)
    if conn.expires_at is not None and conn.expires_at > timezone.now() and failure.transient:
        return conn  # still valid for a little while; the next access tries again
    raise ConnectorError(f"Refreshing the {conn.label} token failed ({failure.error}); "
                         "try again shortly.", "connector_refresh_failed", 502)


def _notify_needs_reconnect(conn: Connection) -> None:
    app = conn.app
    audit.record(app.workspace, actor=None, actor_label="system",
                 action="connector.needs_reconnect", target_type="connection",
                 target_name=conn.label, target_id=app.public_id, scope=app.public_id,
                 changes={"error": conn.last_error})
    if conn.kind == Connection.Kind.APP_USER:
        return  # the app user reconnects through the app
    recipients = {app.created_by.email} if app.created_by else set()
    if not recipients:
        recipients = set(Membership.objects.filter(workspace=app.workspace, role=Role.OWNER)
                         .values_list("user__email", flat=True))
    site = str(getattr(settings, "SITE_URL", "") or "").rstrip("/")
    page = site + reverse("app-connectors", args=[app.workspace.public_id, app.public_id])
    for to in sorted(recipients):
        queue_email_text(to, f"Reconnect {conn.label} for {app.name}",
                         f"The {conn.label} connection of the app \"{app.name}\" stopped "
                         f"working: refreshing its token failed ({conn.last_error}).\n\n"
                         f"Reconnect it on the app's Connectors page: {page}\n\n"
                         "Until then, apps asking for this connection get the error "
                         "connector_needs_reconnect instead of a token.\n")


def refresh_due_connections(ahead: timedelta | None = None) -> int:
    """For the beat task: refresh every active connection expiring within ``ahead``."""
    ahead = ahead or timedelta(seconds=int(getattr(settings, "CONNECTOR_REFRESH_AHEAD_SECONDS",
                                                   900)))
    due = (Connection.objects.filter(status=Connection.Status.ACTIVE,
                                     refresh_token__isnull=False,
                                     expires_at__lte=timezone.now() + ahead)
           .values_list("pk", flat=True))
    count = 0
    for pk in list(due):
        try:
            refresh_connection(pk, within=ahead)
            count += 1
        except ConnectorError:
            continue
    return count
