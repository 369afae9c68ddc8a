"""Disconnect: revoke the tokens at the provider where it can, then delete the connection;
an app user's own, and every app-user connection of a connector."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from secrets_vault.crypto import DecryptionFailed
from workspaces import audit
from workspaces.models import App, AppUser

from .. import oauth
from ..models import (
    Connection,
    WorkspaceConnector,
)
from .base import ConnectorError
from .endpoints import Endpoints, endpoints_for
from .handoff import _registered_connection


def _revoke_all(endpoints: Endpoints | None, pairs: list[tuple[str, str]]) -> bool:
    if endpoints is None or not endpoints.revocation_url:
        return False
    ok = True
    for token, hint in pairs:
        ok = oauth.revoke(endpoints.revocation_url, endpoints.client, token=token,
                          hint=hint) and ok
    return ok


def _revocable(conn: Connection) -> tuple[Endpoints | None, list[tuple[str, str]]]:
    try:
        endpoints = endpoints_for(conn)
    except ConnectorError:
        return None, []
    pairs: list[tuple[str, str]] = []
    for field, hint in (("refresh_token", "refresh_token"), ("access_token", "access_token")):
        sealed = getattr(conn, field)
        if sealed is None:
            continue
        try:
            pairs.append((sealed.reveal(), hint))
        except DecryptionFailed:
            continue
    return endpoints, pairs


def disconnect(conn: Connection, *, actor: Any, actor_label: str = "") -> bool:
    """Delete the stored tokens and revoke them at the provider (when it has a revocation
    endpoint; best effort, after the delete committed). Returns whether revocation worked."""
    endpoints, pairs = _revocable(conn)
    app = conn.app
    with transaction.atomic():
        label = conn.label
        Connection.objects.filter(pk=conn.pk).delete()
        audit.record(app.workspace, actor=actor, actor_label=actor_label,
                     action="connector.disconnected", target_type="connection",
                     target_name=label, target_id=app.public_id, scope=app.public_id,
                     changes={"kind": conn.kind,
                              **({"app_user": conn.app_user.external_id}
                                 if conn.app_user else {})})
    return _revoke_all(endpoints, pairs)


def disconnect_app_user(app: App, app_user: AppUser, connector_id: str) -> dict[str, Any]:
    _, conn = _registered_connection(app, connector_id, kind=Connection.Kind.APP_USER,
                                     app_user=app_user)
    if conn is None:
        return {"status": "not_connected", "connector_id": connector_id}
    disconnect(conn, actor=None, actor_label=f"app user {app_user.external_id}")
    return {"status": "disconnected", "connector_id": connector_id}


def revoke_app_user_connections(connector: WorkspaceConnector, *, actor: Any,
                                app: App | None = None) -> int:
    qs = (Connection.objects.select_related("app", "app__workspace", "connector", "app_user")
          .filter(kind=Connection.Kind.APP_USER, connector=connector))
    if app is not None:
        qs = qs.filter(app=app)
    count = 0
    for conn in qs:
        disconnect(conn, actor=actor)
        count += 1
    return count
