"""Hand-off: an access token (refreshed first when it is about to expire) given to the app
that asks (``getConnection``), recorded; platform, workspace connector and app-user
connections."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from secrets_vault.crypto import DecryptionFailed
from workspaces.models import App, AppUser

from .. import providers
from ..models import (
    Connection,
    TokenHandoff,
    WorkspaceConnector,
)
from .base import ConnectorError
from .refresh import _is_expiring, _needs_reconnect_error, refresh_connection


def access_token(conn: Connection) -> str:
    """A usable access token: refreshed first when it expires within the margin."""
    if conn.status == Connection.Status.NEEDS_RECONNECT:
        raise _needs_reconnect_error(conn)
    if _is_expiring(conn):
        conn = refresh_connection(conn.pk)
    try:
        return conn.access_token.reveal(f"access token of {conn.label}")
    except DecryptionFailed as exc:
        raise ConnectorError(str(exc), "token_unavailable", 503)


def record_handoff(conn: Connection, *, caller_kind: str) -> None:
    now = timezone.now()
    TokenHandoff.objects.create(
        workspace_id=conn.app.workspace_id, app=conn.app, connection=conn,
        connector_label=conn.label[:100], kind=conn.kind, caller_kind=caller_kind,
        app_user_external_id=conn.app_user.external_id if conn.app_user else "")
    Connection.objects.filter(pk=conn.pk).update(last_handoff_at=now)


def _handoff_body(conn: Connection, token: str, integration_type: str) -> dict[str, Any]:
    config = {str(k): str(v) for k, v in (conn.connection_config or {}).items()}
    return {"access_token": token, "integration_type": integration_type,
            "connection_config": config or None}


def _not_connected(what: str) -> ConnectorError:
    return ConnectorError(f"{what} is not connected for this app.", "NOT_FOUND", 404)


def platform_connection(app: App, integration_type: str) -> Connection | None:
    """The app's shared connection of a platform connector (``getConnection``, ``callApi``)."""
    return (Connection.objects.select_related("app", "app__workspace")
            .filter(kind=Connection.Kind.PLATFORM, app=app, integration_type=integration_type)
            .first())


def _hand_off(conn: Connection, integration_type: str, *, caller_kind: str) -> dict[str, Any]:
    token = access_token(conn)
    record_handoff(conn, caller_kind=caller_kind)
    return _handoff_body(conn, token, integration_type)


def hand_off_platform(app: App, integration_type: str, *, caller_kind: str) -> dict[str, Any]:
    """``getConnection(type)``: the shared token, never for metered connectors."""
    provider = providers.get(integration_type)
    if provider is not None and provider.metered:
        raise ConnectorError(
            f"Connector '{integration_type}' is metered — raw access tokens are not available "
            f"for it. Call POST /api/apps/{app.public_id}/connectors/{integration_type}/call "
            "instead.", "metered_connector_requires_proxy", 403)
    conn = platform_connection(app, integration_type)
    if conn is None or provider is None:
        raise _not_connected(f"Connector '{integration_type}'")
    return _hand_off(conn, integration_type, caller_kind=caller_kind)


def connector_for(app: App, connector_id: str) -> WorkspaceConnector:
    """A connector registered in the app's workspace, by its public id (404 otherwise)."""
    connector = WorkspaceConnector.objects.filter(workspace_id=app.workspace_id,
                                                  public_id=connector_id).first()
    if connector is None:
        raise ConnectorError(f"Connector '{connector_id}' not found in this workspace.",
                             "NOT_FOUND", 404)
    return connector


def _registered_connection(app: App, connector_id: str, *, kind: str,
                           app_user: AppUser | None = None
                           ) -> tuple[WorkspaceConnector, Connection | None]:
    """The connector and the app's (or that app user's) connection through it, if any."""
    connector = connector_for(app, connector_id)
    conn = (Connection.objects.select_related("app", "app__workspace", "connector", "app_user")
            .filter(kind=kind, app=app, connector=connector, app_user=app_user).first())
    return connector, conn


def _connector_type(connector: WorkspaceConnector) -> str:
    return connector.provider_type or "custom"


def hand_off_workspace(app: App, connector_id: str, *, caller_kind: str) -> dict[str, Any]:
    """``getWorkspaceConnection(id)``: the app's shared token for a registered connector."""
    connector, conn = _registered_connection(app, connector_id, kind=Connection.Kind.WORKSPACE)
    if conn is None:
        raise _not_connected(f"Connector '{connector_id}'")
    return _hand_off(conn, _connector_type(connector), caller_kind=caller_kind)


def hand_off_app_user(app: App, app_user: AppUser, connector_id: str, *,
                      caller_kind: str) -> dict[str, Any]:
    """``getCurrentAppUserConnection(id)``: that app user's own token."""
    connector, conn = _registered_connection(app, connector_id, kind=Connection.Kind.APP_USER,
                                             app_user=app_user)
    if conn is None:
        raise ConnectorError(f"This app user has not connected '{connector_id}'.", "NOT_FOUND",
                             404)
    return _hand_off(conn, _connector_type(connector), caller_kind=caller_kind)
