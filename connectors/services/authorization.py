"""The OAuth flow: start a connect (platform, workspace connector, app user through a launch
link), check the returned state (one use, same browser, not expired), exchange the code and
store the tokens (replacing and revoking an older connection's); expired states are purged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from integrations import egress
from workspaces import audit
from workspaces.models import App, AppUser

from .. import oauth, providers
from ..models import (
    Connection,
    OAuthState,
    WorkspaceConnector,
)
from .base import ConnectorError, log, state_ttl
from .disconnection import _revocable, _revoke_all
from .endpoints import Endpoints, _connector_endpoints, _platform_endpoints


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


def purge_expired_states() -> int:
    cutoff = timezone.now() - timedelta(days=1)
    deleted, _ = OAuthState.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
