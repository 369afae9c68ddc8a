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
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone

from integrations import egress
from secrets_vault.crypto import DecryptionFailed
from secrets_vault.naming import SECRET_VALUE_MAX
from workspaces import audit
from workspaces.models import App, AppUser, Membership, Role, Workspace
from workspaces.services import ServiceError, queue_email_text
from workspaces.validation import check_name

from .. import oauth, origins, providers
from ..models import (
    URL_FIELDS,
    Connection,
    OAuthState,
    TokenHandoff,
    WorkspaceConnector,
    endpoint_urls,
)

log = logging.getLogger(__name__)


CONNECTOR_ERROR_HEADER = "X-Base44-Connector-Error"


class ConnectorError(ServiceError):
    """A refusal with an HTTP status for the SDK API (``code`` also goes into the
    ``X-Base44-Connector-Error`` header for connector-specific conditions)."""

    def __init__(self, message: str, code: str = "invalid", status: int = 400, *,
                 field: str | None = None) -> None:
        super().__init__(message, code, field)
        self.status = status

    @property
    def headers(self) -> dict[str, str]:
        """The response headers of this refusal (the SDK reads the connector error header)."""
        if self.code.startswith(("connector_", "metered_")):
            return {CONNECTOR_ERROR_HEADER: self.code}
        return {}


# --------------------------------------------------------------------------- settings


def refresh_margin() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "CONNECTOR_REFRESH_MARGIN_SECONDS", 300)))


def state_ttl() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "CONNECTOR_STATE_TTL_SECONDS", 600)))


def max_refresh_failures() -> int:
    return int(getattr(settings, "CONNECTOR_MAX_REFRESH_FAILURES", 3))


# --------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Endpoints:
    authorize_url: str
    token_url: str
    revocation_url: str
    client: oauth.Client
    scopes: str
    pkce: bool
    authorize_params: dict[str, str]
    token_key: str = ""

    def __repr__(self) -> str:
        return f"<Endpoints token_url={self.token_url!r}>"


def _platform_endpoints(provider: providers.Provider, config: dict[str, str]) -> Endpoints:
    client_id, client_secret = provider.client
    if not client_id:
        raise ConnectorError(f"The {provider.name} connector is not configured on this server "
                             f"(CONNECTOR_{provider.type.upper()}_CLIENT_ID).",
                             "connector_not_configured", 503)
    try:
        return Endpoints(
            authorize_url=providers.fill(provider.authorize_url, config),
            token_url=providers.fill(provider.token_url, config),
            revocation_url=providers.fill(provider.revocation_url, config),
            client=oauth.Client(client_id, client_secret, provider.token_auth),
            scopes=provider.scope_separator.join(provider.scopes),
            pkce=provider.pkce,
            authorize_params=dict(provider.authorize_params),
            token_key=provider.token_key,
        )
    except providers.ProviderConfigError as exc:
        raise ConnectorError(str(exc), "invalid_connection_config")


def _connector_endpoints(connector: WorkspaceConnector) -> Endpoints:
    provider = providers.get(connector.provider_type) if connector.provider_type else None
    secret = ""
    if connector.unbound_urls():
        # a URL was moved to another server behind the services' back (Django admin, SQL):
        # the secret was not entered for that server, so it is not sent there
        raise ConnectorError(f"The client secret of connector “{connector.name}” was entered "
                             "for other servers than its URLs now point to; a workspace admin "
                             "must enter it again on the connector's page.",
                             "connector_secret_unbound", 409)
    if connector.client_secret is not None:
        try:
            secret = connector.client_secret.reveal(f"client secret of connector "
                                                    f"{connector.name}")
        except DecryptionFailed as exc:
            raise ConnectorError(str(exc), "connector_secret_unavailable", 503)
    urls = connector.endpoint_urls()
    return Endpoints(
        authorize_url=urls["authorize_url"], token_url=urls["token_url"],
        revocation_url=urls["revocation_url"],
        client=oauth.Client(connector.client_id, secret, connector.token_auth),
        scopes=connector.scopes,
        pkce=connector.pkce,
        authorize_params=dict(provider.authorize_params) if provider else {},
        token_key=provider.token_key if provider else "",
    )


def endpoints_for(conn: Connection) -> Endpoints:
    if conn.kind == Connection.Kind.PLATFORM:
        provider = providers.get(conn.integration_type)
        if provider is None:
            raise ConnectorError(f"Connector '{conn.integration_type}' is no longer available.",
                                 "connector_not_found", 404)
        return _platform_endpoints(provider, conn.connection_config)
    assert conn.connector is not None
    return _connector_endpoints(conn.connector)


# --------------------------------------------------------------------------- authorization


@dataclass(frozen=True)
class Authorization:
    """Where to send the browser, and the nonce that same browser must bring back to the
    callback (the view sets it as an HttpOnly cookie; only its SHA-256 is stored)."""

    url: str
    state_id: int
    browser_nonce: str

    def __repr__(self) -> str:  # never print the nonce
        return f"<Authorization state_id={self.state_id}>"


def launch_ttl() -> timedelta:
    """How long the link ``connectAppUser`` returns may be opened (once)."""
    return timedelta(seconds=int(getattr(settings, "CONNECTOR_LAUNCH_TTL_SECONDS", 300)))


def _authorize_redirect(endpoints: Endpoints, *, redirect_uri: str, scopes: str, state: str,
                        verifier: str | None) -> str:
    try:
        return oauth.authorize_url(
            endpoints.authorize_url, client_id=endpoints.client.client_id,
            redirect_uri=redirect_uri, scopes=scopes, state=state,
            code_challenge=oauth.pkce_challenge(verifier) if verifier else None,
            extra=endpoints.authorize_params)
    except (egress.EgressError, ValueError) as exc:  # blocked, or not a URL at all
        raise ConnectorError(f"The authorization URL is not allowed: "
                             f"{getattr(exc, 'reason', exc)}", "endpoint_blocked")


def _start(app: App, *, kind: str, endpoints: Endpoints, redirect_uri: str,
           integration_type: str = "", connector: WorkspaceConnector | None = None,
           user: Any = None, connection_config: dict[str, str] | None = None) -> Authorization:
    """A dashboard flow: the state is bound to the signed-in user and to this browser."""
    state, nonce = oauth.new_state(), oauth.new_state()
    verifier = oauth.new_pkce()[0] if endpoints.pkce else None
    url = _authorize_redirect(endpoints, redirect_uri=redirect_uri, scopes=endpoints.scopes,
                              state=state, verifier=verifier)
    now = timezone.now()
    row = OAuthState.objects.create(
        digest=oauth.state_digest(state), kind=kind, app=app, integration_type=integration_type,
        connector=connector, user=user if getattr(user, "is_authenticated", False) else None,
        code_verifier=verifier, redirect_uri=redirect_uri, scopes=endpoints.scopes,
        connection_config=connection_config or {}, expires_at=now + state_ttl(),
        browser_digest=oauth.state_digest(nonce), launched_at=now)
    return Authorization(url, row.pk, nonce)


def start_platform_connect(app: App, integration_type: str, *, actor: Any, redirect_uri: str,
                           connection_config: dict[str, str] | None = None) -> Authorization:
    """Where to send the dashboard user's browser (the provider)."""
    provider = providers.get(integration_type)
    if provider is None:
        raise ConnectorError(f"Unknown connector '{integration_type}'.", "connector_not_found",
                             404)
    config = {k: str(v).strip() for k, v in (connection_config or {}).items()
              if k in provider.config_fields}
    endpoints = _platform_endpoints(provider, config)
    return _start(app, kind=Connection.Kind.PLATFORM, endpoints=endpoints,
                  redirect_uri=redirect_uri, integration_type=integration_type, user=actor,
                  connection_config=config)


def start_workspace_connect(app: App, connector: WorkspaceConnector, *, actor: Any,
                            redirect_uri: str) -> Authorization:
    _same_workspace(app, connector)
    return _start(app, kind=Connection.Kind.WORKSPACE, endpoints=_connector_endpoints(connector),
                  redirect_uri=redirect_uri, connector=connector, user=actor)


def start_app_user_connect(app: App, app_user: AppUser, connector: WorkspaceConnector, *,
                           redirect_uri: str) -> dict[str, Any]:
    """``connectAppUser``: an attempt bound to app, app user and connector, opened through a
    one-time link (``launch_token``, valid ``launch_ttl``). No state exists yet: the browser
    that opens the link first gets one, bound to it (``open_app_user_connect``)."""
    _same_workspace(app, connector)
    endpoints = _connector_endpoints(connector)
    verifier = oauth.new_pkce()[0] if endpoints.pkce else None
    # refuse a blocked authorize URL now, not when the user's browser gets there
    _authorize_redirect(endpoints, redirect_uri=redirect_uri, scopes=endpoints.scopes,
                        state="-", verifier=verifier)
    launch = oauth.new_state()
    OAuthState.objects.create(
        digest=oauth.state_digest(oauth.new_state()),  # placeholder nobody knows
        kind=Connection.Kind.APP_USER, app=app, connector=connector, app_user=app_user,
        code_verifier=verifier, redirect_uri=redirect_uri, scopes=endpoints.scopes,
        expires_at=timezone.now() + launch_ttl(), launch_digest=oauth.state_digest(launch))
    existing = Connection.objects.filter(kind=Connection.Kind.APP_USER, app=app,
                                         connector=connector, app_user=app_user).first()
    return {"launch_token": launch, "connection_id": existing.pk if existing else None,
            "already_authorized": bool(existing and existing.status == Connection.Status.ACTIVE)}


def open_app_user_connect(launch_token: str) -> Authorization:
    """The app user's browser opens the ``connectAppUser`` link: claimed once (a second
    browser, or the same link later, is refused), it gets a fresh state bound to that
    browser and the provider URL (PKCE S256 when the connector uses it)."""
    gone = ConnectorError("This connection link was already opened, or it expired. Go back to "
                          "the app and start the connection again from there.", "launch_used")
    if not launch_token or len(launch_token) > 200:
        raise gone
    row = (OAuthState.objects.select_related("connector")
           .filter(kind=Connection.Kind.APP_USER,
                   launch_digest=oauth.state_digest(launch_token)).first())
    if row is None or row.connector is None:
        raise gone
    state, nonce = oauth.new_state(), oauth.new_state()
    now = timezone.now()
    claimed = OAuthState.objects.filter(
        pk=row.pk, launched_at__isnull=True, used_at__isnull=True, expires_at__gt=now,
    ).update(launched_at=now, digest=oauth.state_digest(state),
             browser_digest=oauth.state_digest(nonce), expires_at=now + state_ttl())
    if not claimed:
        raise gone
    verifier = row.code_verifier.reveal("PKCE verifier") if row.code_verifier else None
    url = _authorize_redirect(_connector_endpoints(row.connector), redirect_uri=row.redirect_uri,
                              scopes=row.scopes, state=state, verifier=verifier)
    return Authorization(url, row.pk, nonce)


def _same_workspace(app: App, connector: WorkspaceConnector) -> None:
    if connector.workspace_id != app.workspace_id:
        raise ConnectorError("Connector not found.", "connector_not_found", 404)


def pending_state(raw_state: str) -> OAuthState | None:
    """The state row a callback names, without consuming it (the callback view uses it to
    tell a dashboard flow, which needs a signed-in user, from an app user's)."""
    if not raw_state or len(raw_state) > 200:
        return None
    return (OAuthState.objects.select_related("app", "app__workspace")
            .filter(digest=oauth.state_digest(raw_state)).first())


_OTHER_BROWSER = {
    Connection.Kind.APP_USER: "This connection was not started in this browser, so nothing was "
                              "connected. Go back to the app and start the connection again "
                              "from there.",
    "dashboard": "This connection was started in another browser, so nothing was connected. "
                 "Start it again from the app's Connectors page.",
}


def consume_state(raw_state: str, *, user: Any = None, browser_nonce: str = "") -> OAuthState:
    """The state row, marked used; refuses unknown, used (replayed), expired states, a
    dashboard flow completed by another signed-in user than the one who started it, and a
    callback from another browser than the one sent to the provider (``browser_nonce``, the
    cookie; compared in constant time). A refusal for the browser leaves the state unused."""
    if not raw_state or len(raw_state) > 200:
        raise ConnectorError("The authorization request is invalid.", "invalid_state")
    row = (OAuthState.objects.select_related("app", "app__workspace", "connector", "app_user")
           .filter(digest=oauth.state_digest(raw_state)).first())
    if row is None:
        raise ConnectorError("The authorization request is unknown or was tampered with.",
                             "invalid_state")
    if row.kind != Connection.Kind.APP_USER:
        uid = getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None
        if row.user_id is None or uid != row.user_id:
            raise ConnectorError("This authorization was started by another user. Sign in as "
                                 "that user, or start again.", "invalid_state")
    if not oauth.same_digest(row.browser_digest, browser_nonce):
        raise ConnectorError(_OTHER_BROWSER.get(row.kind, _OTHER_BROWSER["dashboard"]),
                             "browser_mismatch")
    now = timezone.now()
    if not OAuthState.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=now):
        raise ConnectorError("This authorization was already used. Start again.",
                             "invalid_state")
    if row.expires_at <= now:
        raise ConnectorError("This authorization request expired. Start again.",
                             "invalid_state")
    return row


def complete_authorization(raw_state: str, *, code: str = "", error: str = "",
                           user: Any = None, browser_nonce: str = "") -> Connection:
    """The callback: consume the state, exchange the code (PKCE verifier included), store the
    tokens encrypted."""
    st = consume_state(raw_state, user=user, browser_nonce=browser_nonce)
    if error or not code:
        raise ConnectorError(f"The provider did not authorize the connection "
                             f"({(error or 'no code')[:60]}).", "authorization_refused")
    if st.kind == Connection.Kind.PLATFORM:
        provider = providers.get(st.integration_type)
        if provider is None:
            raise ConnectorError("Unknown connector.", "connector_not_found", 404)
        endpoints = _platform_endpoints(provider, st.connection_config)
    else:
        assert st.connector is not None
        endpoints = _connector_endpoints(st.connector)
    verifier = st.code_verifier.reveal("PKCE verifier") if st.code_verifier else None
    try:
        tokens = oauth.exchange_code(endpoints.token_url, endpoints.client, code=code,
                                     redirect_uri=st.redirect_uri, code_verifier=verifier,
                                     token_key=endpoints.token_key)
    except oauth.OAuthError as exc:
        log.warning("connector code exchange failed for app %s: %s", st.app.public_id,
                    exc.error)
        raise ConnectorError(f"The provider refused the authorization code ({exc.error}).",
                             "token_exchange_failed", 502)
    return _store(st, tokens)


def _store(st: OAuthState, tokens: oauth.TokenSet) -> Connection:
    lookup: dict[str, Any] = {"kind": st.kind, "app": st.app}
    if st.kind == Connection.Kind.PLATFORM:
        lookup["integration_type"] = st.integration_type
    else:
        lookup["connector"] = st.connector
    if st.kind == Connection.Kind.APP_USER:
        lookup["app_user"] = st.app_user
    config = dict(st.connection_config)
    provider = providers.get(st.integration_type) if st.integration_type else None
    for key in provider.config_from_token if provider else ():
        if key in tokens.extra:  # e.g. Salesforce's instance_url
            config[key] = tokens.extra[key]
    replaced: list[tuple[Endpoints | None, list[tuple[str, str]]]] = []
    with transaction.atomic():
        conn = Connection.objects.select_for_update().filter(**lookup).first()
        created = conn is None
        if conn is None:
            conn = Connection(**lookup)
        else:  # a reconnect: the grant being replaced is revoked at the provider below
            replaced.append(_revocable(conn))
        conn.access_token = tokens.access_token
        conn.refresh_token = tokens.refresh_token
        conn.token_type = tokens.token_type
        conn.expires_at = tokens.expires_at
        conn.scopes = (tokens.scope or st.scopes)[:1000]
        conn.connection_config = config
        conn.status = Connection.Status.ACTIVE
        conn.refresh_failures = 0
        conn.last_error = ""
        conn.connected_by = st.user
        try:
            with transaction.atomic():
                conn.save()
        except IntegrityError:  # a concurrent callback for the same slot won; overwrite it
            existing = Connection.objects.select_for_update().get(**lookup)
            replaced.append(_revocable(existing))
            conn.pk, conn.created_at = existing.pk, existing.created_at
            conn.save()
        audit.record(st.app.workspace, actor=st.user,
                     actor_label="" if st.user else f"app user {_who(st.app_user)}",
                     action="connector.connected" if created else "connector.reconnected",
                     target_type="connection", target_name=conn.label,
                     target_id=st.app.public_id, scope=st.app.public_id,
                     changes={"kind": conn.kind, "scopes": conn.scopes,
                              "access_token": "changed"})
    current = {tokens.access_token, tokens.refresh_token}
    for endpoints, pairs in replaced:  # after the commit, as disconnect does
        _revoke_replaced(conn, endpoints, [(t, h) for t, h in pairs if t not in current])
    return conn


def _revoke_replaced(conn: Connection, endpoints: Endpoints | None,
                     pairs: list[tuple[str, str]]) -> None:
    """Best effort: a provider that refuses or fails the revocation never fails the reconnect
    (the new tokens are stored already). Logged without any token."""
    if not pairs:
        return
    try:
        ok = _revoke_all(endpoints, pairs)
    except Exception as exc:  # noqa: BLE001 - never fail the reconnect on revocation
        # the exception's type only: its message or traceback could carry a token
        log.warning("connector reconnect: revoking the replaced tokens of connection %s "
                    "(app %s) raised %s; the new tokens are stored", conn.pk,
                    conn.app.public_id, type(exc).__name__)
        return
    if not ok and endpoints is not None and endpoints.revocation_url:
        log.warning("connector reconnect: the provider did not revoke the replaced tokens of "
                    "connection %s (app %s); the new tokens are stored", conn.pk,
                    conn.app.public_id)


def _who(app_user: AppUser | None) -> str:
    return app_user.external_id if app_user else "?"


# --------------------------------------------------------------------------- hand-off


def _is_expiring(conn: Connection, within: timedelta | None = None) -> bool:
    window = refresh_margin() if within is None else within
    return conn.expires_at is not None and conn.expires_at <= timezone.now() + window


def _needs_reconnect_error(conn: Connection) -> ConnectorError:
    return ConnectorError(f"The {conn.label} connection must be reconnected by the app owner "
                          f"(refreshing its token failed: {conn.last_error or 'unknown'}).",
                          "connector_needs_reconnect", 409)


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


# --------------------------------------------------------------------------- disconnect


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


# --------------------------------------------------------------------------- registered


def _check_urls(**urls: str) -> None:
    for field, url in urls.items():
        if not url:
            continue
        try:
            egress.check_url_shape(url)
        except egress.EgressError as exc:
            raise ConnectorError(f"{field.replace('_', ' ').capitalize()}: {exc.reason}",
                                 "invalid_url")


def _connector_values(provider_type: str, authorize_url: str, token_url: str,
                      revocation_url: str) -> None:
    if provider_type:
        provider = providers.get(provider_type)
        if provider is None:
            raise ConnectorError(f"Unknown provider type '{provider_type}'.", "invalid")
        if provider.config_fields and not (authorize_url and token_url):
            # its URLs hold per-account settings (e.g. {subdomain}) a connector cannot fill
            raise ConnectorError(f"{provider.name}'s URLs depend on the account: give this "
                                 "connector's authorize and token URLs.", "invalid")
    elif not (authorize_url and token_url):
        raise ConnectorError("Choose a provider type or give the authorize and token URLs.",
                             "invalid")
    _check_urls(authorize_url=authorize_url, token_url=token_url,
                revocation_url=revocation_url)


def _duplicate_name(name: str) -> ConnectorError:
    return ConnectorError(f"A connector named “{name}” already exists.", "duplicate")


def _save_connector(connector: WorkspaceConnector) -> None:
    """Save; the name was checked first, but a concurrent request may have taken it since: the
    unique constraint then gets the same refusal as the check, not a server error."""
    try:
        with transaction.atomic():
            connector.save()
    except IntegrityError:
        raise _duplicate_name(connector.name) from None


def create_connector(workspace: Workspace, *, actor: Any, name: str, client_id: str,
                     client_secret: str, provider_type: str = "", authorize_url: str = "",
                     token_url: str = "", revocation_url: str = "", scopes: str = "",
                     pkce: bool = True, token_auth: str = "post",  # noqa: S107
                     ) -> WorkspaceConnector:
    name = name.strip()
    if not name or not client_id.strip():
        raise ConnectorError("A name and a client id are required.")
    check_name(name, what="A connector name", error=ConnectorError)
    _connector_values(provider_type, authorize_url, token_url, revocation_url)
    _check_secret(client_secret)
    with transaction.atomic():
        if WorkspaceConnector.objects.filter(workspace=workspace, name=name).exists():
            raise _duplicate_name(name)
        connector = WorkspaceConnector(
            workspace=workspace, name=name, provider_type=provider_type,
            authorize_url=authorize_url, token_url=token_url, revocation_url=revocation_url,
            client_id=client_id.strip(), client_secret=client_secret or None,
            scopes=" ".join(scopes.split()), pkce=pkce, token_auth=token_auth,
            created_by=actor if getattr(actor, "is_authenticated", False) else None)
        connector.bind_client_secret()
        _save_connector(connector)
        audit.record(workspace, actor=actor, action="connector.registered",
                     target_type="workspace_connector", target_name=name,
                     target_id=connector.public_id,
                     changes={**audit.diff(None, {
                         "name": name, "client_id": connector.client_id,
                         "provider_type": provider_type, "scopes": connector.scopes}),
                         "client_secret": "set" if client_secret else "none"})
    return connector


EDITABLE = ("name", "provider_type", "authorize_url", "token_url", "revocation_url",
            "client_id", "scopes", "pkce", "token_auth")
_URL_LABELS = {"authorize_url": "authorize URL", "token_url": "token URL",
               "revocation_url": "revocation URL"}


def _check_secret(client_secret: str | None) -> None:
    if client_secret and len(client_secret) > SECRET_VALUE_MAX:
        raise ConnectorError(f"Client secrets are limited to {SECRET_VALUE_MAX} characters "
                             "(the vault's limit).", "max_length", field="client_secret")


def _check_secret_origins(connector: WorkspaceConnector, merged: dict[str, Any]) -> None:
    """The stored client secret only goes to the origins it was entered for: a URL moved to
    another origin needs the secret typed again in the same save (a new path is fine)."""
    if connector.client_secret is None:
        return
    bound = set(connector.client_secret_origins or ())
    urls = endpoint_urls(merged["provider_type"], **{f: merged[f] for f in URL_FIELDS})
    for field, url in urls.items():
        origin = origins.url_origin(url)
        if origin and origin not in bound:
            raise ConnectorError(
                f"The {_URL_LABELS[field]} now points to another server ({origin}) than the "
                f"stored client secret was entered for ({', '.join(sorted(bound)) or 'none'}). "
                "Enter the client secret again to save this change, so it is never sent to a "
                "server it was not meant for.", "client_secret_required", field=field)


def update_connector(connector: WorkspaceConnector, *, actor: Any, client_secret: str = "",
                     **values: Any) -> WorkspaceConnector:
    """Edit; ``client_secret`` (optional) replaces the stored one in the same save, and is
    required when a URL moves to another origin (``_check_secret_origins``)."""
    unknown = set(values) - set(EDITABLE)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    merged = {f: values.get(f, getattr(connector, f)) for f in EDITABLE}
    merged["scopes"] = " ".join(str(merged["scopes"]).split())
    merged["name"] = str(merged["name"]).strip()
    check_name(merged["name"], what="A connector name", error=ConnectorError)
    _connector_values(merged["provider_type"], merged["authorize_url"], merged["token_url"],
                      merged["revocation_url"])
    _check_secret(client_secret)
    if not client_secret:
        _check_secret_origins(connector, merged)
    with transaction.atomic():
        if (merged["name"] != connector.name and WorkspaceConnector.objects.filter(
                workspace=connector.workspace, name=merged["name"]).exists()):
            raise _duplicate_name(merged["name"])
        changes = audit.diff({f: getattr(connector, f) for f in EDITABLE}, merged)
        for f, v in merged.items():
            setattr(connector, f, v)
        if client_secret:
            connector.client_secret = client_secret
            connector.secret_rotated_at = timezone.now()
            changes["client_secret"] = "changed"
            connector.bind_client_secret()
        try:
            _save_connector(connector)
        except ConnectorError:
            connector.refresh_from_db()  # the caller shows it: not with the refused values
            raise
        if changes:
            audit.record(connector.workspace, actor=actor, action="connector.updated",
                         target_type="workspace_connector", target_name=connector.name,
                         target_id=connector.public_id, changes=changes)
    return connector


def rotate_client_secret(connector: WorkspaceConnector, *, actor: Any,
                         client_secret: str) -> None:
    if not client_secret:
        raise ConnectorError("Give the new client secret.", field="client_secret")
    _check_secret(client_secret)
    with transaction.atomic():
        connector.client_secret = client_secret
        connector.secret_rotated_at = timezone.now()
        connector.bind_client_secret()  # entered for the URLs the connector has now
        connector.save(update_fields=["client_secret", "secret_rotated_at",
                                      "client_secret_origins", "updated_at"])
        audit.record(connector.workspace, actor=actor, action="connector.secret_rotated",
                     target_type="workspace_connector", target_name=connector.name,
                     target_id=connector.public_id, changes={"client_secret": "changed"})


def connector_usage(connector: WorkspaceConnector) -> list[dict[str, Any]]:
    """Per app using the connector: ``{app_id, name, shared, app_users}`` (one query)."""
    per_app = (Connection.objects.filter(connector=connector)
               .values("app__public_id", "app__name", "kind").annotate(n=Count("id"))
               .order_by("app__name"))
    usage: dict[str, dict[str, Any]] = {}
    for row in per_app:
        entry = usage.setdefault(row["app__public_id"], {"app_id": row["app__public_id"],
                                                         "name": row["app__name"],
                                                         "shared": 0, "app_users": 0})
        if row["kind"] == Connection.Kind.WORKSPACE:
            entry["shared"] += row["n"]
        else:
            entry["app_users"] += row["n"]
    return list(usage.values())


def delete_connector(connector: WorkspaceConnector, *, actor: Any) -> None:
    """Deletes its connections too (tokens revoked at the provider first, best effort)."""
    conns = list(Connection.objects.select_related("app", "app__workspace", "connector",
                                                   "app_user").filter(connector=connector))
    revocations = [_revocable(c) for c in conns]
    with transaction.atomic():
        audit.record(connector.workspace, actor=actor, action="connector.deleted",
                     target_type="workspace_connector", target_name=connector.name,
                     target_id=connector.public_id, changes={"connections_removed": len(conns)})
        connector.delete()
    for endpoints, pairs in revocations:
        _revoke_all(endpoints, pairs)


# --------------------------------------------------------------------------- background


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


def purge_expired_states() -> int:
    cutoff = timezone.now() - timedelta(days=1)
    deleted, _ = OAuthState.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
