"""Connector actions. Views, API views and tasks call these; role checks stay in the callers.

Writes run in one transaction with their audit row. Tokens are revealed only here, and only
access tokens are ever returned to callers (``hand_off``); refresh tokens and client secrets
never leave this module except towards the provider's own endpoints.

Refresh is single-flight: the connection row is locked (``SELECT ... FOR UPDATE``) while the
token endpoint is called, and whoever gets the lock second re-reads the row and finds the
fresh token, so N concurrent requests in any number of processes make one refresh call.
Rotated refresh tokens are saved in the same transaction as the new access token.

Why a PostgreSQL row lock rather than a Redis lock: the lock lives with the data it protects, so
"re-read after acquiring" and "save the rotated refresh token" happen in the one transaction that
holds it; a process that dies mid-refresh releases it with its connection; and there is no lease
to tune. A Redis lock with a TTL shorter than a slow token endpoint would let a second process
refresh with a refresh token the first one has already rotated away (``invalid_grant``, and a
healthy connection marked as needing reconnection); Redis is also optional in this project
(local-memory cache without ``REDIS_URL``). The cost, a connection held in a transaction during
the token call, is bounded by ``CONNECTOR_TOKEN_TIMEOUT_SECONDS``. Tested with separate OS
processes in ``tests/connectors/test_refresh_processes.py``.

One module per job; each imports only the ones above it in this list:

    base           ConnectorError, the log, settings
    endpoints      a connection's OAuth endpoints (platform provider or registered connector)
    refresh        single-flight token refresh, needs-reconnect, the beat sweep
    handoff        access tokens handed to apps (platform, workspace, app-user connections)
    disconnection  revoke at the provider and delete
    authorization  the OAuth flow: start, state check, code exchange, token storage
    configuration  registered connectors: create, edit, rotate the secret, usage, delete

Callers use this package (``from connectors import services``), never the modules. Setting
a name on the package sets it in every module that uses it, as when this was one module
(``workspaces.packages``).
"""

from __future__ import annotations

from workspaces.packages import forward_names

from ..models import Connection, OAuthState, TokenHandoff, WorkspaceConnector
from . import authorization, base, configuration, disconnection, endpoints, handoff, refresh
from .authorization import (
    Authorization,
    complete_authorization,
    consume_state,
    launch_ttl,
    open_app_user_connect,
    pending_state,
    purge_expired_states,
    start_app_user_connect,
    start_platform_connect,
    start_workspace_connect,
)
from .base import (
    CONNECTOR_ERROR_HEADER,
    ConnectorError,
    log,
    max_refresh_failures,
    refresh_margin,
    state_ttl,
)
from .configuration import (
    EDITABLE,
    connector_usage,
    create_connector,
    delete_connector,
    rotate_client_secret,
    update_connector,
)
from .configuration import _connector_values as _connector_values
from .disconnection import (
    disconnect,
    disconnect_app_user,
    revoke_app_user_connections,
)
from .endpoints import (
    Endpoints,
    endpoints_for,
)
from .handoff import (
    access_token,
    connector_for,
    hand_off_app_user,
    hand_off_platform,
    hand_off_workspace,
    platform_connection,
    record_handoff,
)
from .refresh import (
    refresh_connection,
    refresh_due_connections,
)

_MODULES = (base, endpoints, refresh, handoff, disconnection, authorization, configuration)
forward_names(__name__, _MODULES)

__all__ = [
    "Authorization",
    "CONNECTOR_ERROR_HEADER",
    "Connection",
    "ConnectorError",
    "EDITABLE",
    "Endpoints",
    "OAuthState",
    "TokenHandoff",
    "WorkspaceConnector",
    "access_token",
    "complete_authorization",
    "connector_for",
    "connector_usage",
    "consume_state",
    "create_connector",
    "delete_connector",
    "disconnect",
    "disconnect_app_user",
    "endpoints_for",
    "hand_off_app_user",
    "hand_off_platform",
    "hand_off_workspace",
    "launch_ttl",
    "log",
    "max_refresh_failures",
    "open_app_user_connect",
    "pending_state",
    "platform_connection",
    "purge_expired_states",
    "record_handoff",
    "refresh_connection",
    "refresh_due_connections",
    "refresh_margin",
    "revoke_app_user_connections",
    "rotate_client_secret",
    "start_app_user_connect",
    "start_platform_connect",
    "start_workspace_connect",
    "state_ttl",
    "update_connector",
]
