"""The OAuth endpoints of a connection: a platform provider's (with its connection config)
or a registered connector's."""

from __future__ import annotations

from dataclasses import dataclass

from secrets_vault.crypto import DecryptionFailed

from .. import oauth, providers
from ..models import (
    Connection,
    WorkspaceConnector,
)
from .base import ConnectorError


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
