"""How to set a connector up: the OAuth callback URL to register at a provider, the environment
variables that configure a platform provider on this server, and the defaults a workspace
connector's register form is prefilled with (from ``providers.yaml``).

Read-only: it never reads or shows a client secret, only the names of the variables holding one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import reverse

from . import providers


def callback_url(request: Any = None) -> str:
    """The redirect URI registered with providers and sent in every authorization:
    ``CONNECTOR_CALLBACK_URL`` when set, else ``SITE_URL`` + the callback path, else the
    request's own host (development)."""
    configured = str(getattr(settings, "CONNECTOR_CALLBACK_URL", "") or "")
    if configured:
        return configured
    path = reverse("connectors-oauth-callback")
    site = str(getattr(settings, "SITE_URL", "") or "").rstrip("/")
    if site:
        return site + path
    return request.build_absolute_uri(path) if request is not None else path


def env_var_names(provider_type: str) -> tuple[str, str]:
    """The variables settings read a platform provider's OAuth client from (see
    ``CONNECTOR_CLIENTS`` in config/settings/base.py)."""
    stem = f"CONNECTOR_{provider_type.upper()}_CLIENT"
    return f"{stem}_ID", f"{stem}_SECRET"


@dataclass(frozen=True)
class ProviderSetup:
    """What an operator does to offer a platform provider on this server."""

    provider: providers.Provider
    client_id_var: str
    client_secret_var: str
    scopes: str
    configured: bool

    @property
    def type(self) -> str:
        return self.provider.type


def platform_setup(provider: providers.Provider) -> ProviderSetup:
    client_id_var, client_secret_var = env_var_names(provider.type)
    return ProviderSetup(provider=provider, client_id_var=client_id_var,
                         client_secret_var=client_secret_var,
                         scopes=" ".join(provider.scopes), configured=provider.is_configured)


def unconfigured_setups() -> list[ProviderSetup]:
    """One entry per provider this server has no OAuth client for, by name."""
    return [platform_setup(p) for p in sorted(providers.all_providers().values(),
                                              key=lambda p: p.name.lower())
            if not p.is_configured]


#: Register-form fields a provider type fills in, in form order.
PREFILL_FIELDS = ("authorize_url", "token_url", "revocation_url", "scopes", "pkce",
                  "token_auth")


def prefill(provider_type: str) -> dict[str, Any]:
    """The register form's initial values for a provider type (empty for an unknown one):
    its endpoints, default scopes, PKCE and token-endpoint authentication, and its name."""
    provider = providers.get(provider_type) if provider_type else None
    if provider is None:
        return {}
    return {"provider_type": provider.type, "name": provider.name,
            "authorize_url": provider.authorize_url, "token_url": provider.token_url,
            "revocation_url": provider.revocation_url, "scopes": " ".join(provider.scopes),
            "pkce": provider.pkce, "token_auth": provider.token_auth}


def option_data(provider_type: str) -> dict[str, str]:
    """``data-*`` attributes of a provider's option in the register form's select, read by
    static/js/connectors.js to prefill without a round trip."""
    values = prefill(provider_type)
    if not values:
        return {}
    data = {f"data-{field.replace('_', '-')}": str(values[field])
            for field in PREFILL_FIELDS if field != "pkce"}
    data["data-pkce"] = "true" if values["pkce"] else "false"
    data["data-name"] = str(values["name"])
    return data
