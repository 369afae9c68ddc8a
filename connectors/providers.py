"""Platform connector definitions, loaded from ``providers.yaml``.

Settings:
- ``CONNECTOR_CLIENTS``: ``{type: {"client_id": ..., "client_secret": ...}}``, built from the
  environment (``CONNECTOR_<TYPE>_CLIENT_ID`` / ``_CLIENT_SECRET``) in settings.
- ``CONNECTOR_PROVIDER_OVERRIDES``: ``{type: {key: value}}`` merged over the file (a whole new
  entry adds a provider). For staging and tests, e.g. to point a provider at a local
  authorization server.
"""

from __future__ import annotations

import fnmatch
import re
import string
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

PROVIDERS_FILE = Path(__file__).resolve().parent / "providers.yaml"
_TYPE_RE = re.compile(r"[a-z0-9_]{1,60}\Z")
#: A connection-config value (one DNS-label-like token); anchored at both ends, so it works with
#: ``match`` and ``search`` (form validators search) alike.
CONFIG_VALUE_RE = re.compile(r"\A[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")


class ProviderConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Price:
    path: str
    credits: int
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return fnmatch.fnmatchcase(path, self.path)


@dataclass(frozen=True)
class Provider:
    type: str
    name: str
    authorize_url: str
    token_url: str
    revocation_url: str = ""
    scopes: tuple[str, ...] = ()
    scope_separator: str = " "
    pkce: bool = True
    token_auth: str = "post"
    authorize_params: tuple[tuple[str, str], ...] = ()
    hosts: tuple[tuple[str, str], ...] = ()
    request_headers: frozenset[str] = frozenset()
    response_headers: frozenset[str] = frozenset()
    binary_types: tuple[str, ...] = ()
    config_fields: tuple[str, ...] = ()
    config_from_token: tuple[str, ...] = ()
    token_key: str = ""
    metered: bool = False
    price: int = 0
    prices: tuple[Price, ...] = field(default=())

    @property
    def default_host(self) -> str | None:
        return self.hosts[0][0] if self.hosts else None

    def host_url(self, name: str | None) -> str | None:
        name = name or self.default_host
        return dict(self.hosts).get(name or "")

    def price_for(self, method: str, path: str) -> int:
        for price in self.prices:
            if price.matches(method, path):
                return price.credits
        return self.price

    def is_binary(self, media_type: str) -> bool:
        media_type = media_type.lower()
        for pattern in self.binary_types:
            if pattern.endswith("/*") and media_type.startswith(pattern[:-1]):
                return True
            if media_type == pattern:
                return True
        return False

    @property
    def client(self) -> tuple[str, str]:
        """The platform's own OAuth client (id, secret), from the environment."""
        clients = getattr(settings, "CONNECTOR_CLIENTS", {}) or {}
        entry = clients.get(self.type) or {}
        return str(entry.get("client_id", "")), str(entry.get("client_secret", ""))

    @property
    def is_configured(self) -> bool:
        return bool(self.client[0])


def fill(template: str, config: dict[str, str] | None) -> str:
    """``https://{subdomain}.example.com`` with the connection's config; every value is one
    DNS-label-like token, so a value can never change the host's shape."""
    used = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    values = {}
    for key, value in (config or {}).items():
        if key not in used:
            continue  # e.g. Salesforce's instance_url, handed out but never put in a URL
        if not CONFIG_VALUE_RE.match(str(value)):
            raise ProviderConfigError(f"Connection setting '{key}' has an invalid value.")
        values[key] = str(value)
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ProviderConfigError(f"Connection setting missing: {exc}") from None


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _build(type_: str, raw: dict[str, Any]) -> Provider:
    if not _TYPE_RE.match(type_):
        raise ProviderConfigError(f"Invalid integration type {type_!r}.")
    missing = [k for k in ("name", "authorize_url", "token_url") if not raw.get(k)]
    if missing:
        raise ProviderConfigError(f"Provider {type_!r} lacks {', '.join(missing)}.")
    token_auth = str(raw.get("token_auth", "post"))
    if token_auth not in ("post", "basic"):
        raise ProviderConfigError(f"Provider {type_!r}: token_auth must be post or basic.")
    prices = tuple(
        Price(path=str(p["path"]), credits=int(p["credits"]), method=p.get("method"))
        for p in raw.get("prices") or ()
    )
    hosts = raw.get("hosts") or {}
    return Provider(
        type=type_,
        name=str(raw["name"]),
        authorize_url=str(raw["authorize_url"]),
        token_url=str(raw["token_url"]),
        revocation_url=str(raw.get("revocation_url") or ""),
        scopes=_as_tuple(raw.get("scopes")),
        scope_separator=str(raw.get("scope_separator", " ")),
        pkce=bool(raw.get("pkce", True)),
        token_auth=token_auth,
        authorize_params=tuple((str(k), str(v)) for k, v in
                               (raw.get("authorize_params") or {}).items()),
        hosts=tuple((str(k), str(v).rstrip("/")) for k, v in hosts.items()),
        request_headers=frozenset(h.lower() for h in _as_tuple(raw.get("request_headers"))),
        response_headers=frozenset(h.lower() for h in _as_tuple(raw.get("response_headers"))),
        binary_types=tuple(t.lower() for t in _as_tuple(raw.get("binary_types"))),
        config_fields=_as_tuple(raw.get("config_fields")),
        config_from_token=_as_tuple(raw.get("config_from_token")),
        token_key=str(raw.get("token_key") or ""),
        metered=bool(raw.get("metered", False)),
        price=int(raw.get("price", 0)),
        prices=prices,
    )


@lru_cache(maxsize=1)
def _file_entries() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(PROVIDERS_FILE.read_text()) or {}
    if not isinstance(data, dict):
        raise ProviderConfigError("providers.yaml must map integration types to entries.")
    return data


@lru_cache(maxsize=1)
def all_providers() -> dict[str, Provider]:
    entries = {k: dict(v) for k, v in _file_entries().items()}
    overrides = getattr(settings, "CONNECTOR_PROVIDER_OVERRIDES", {}) or {}
    for type_, patch in overrides.items():
        entries[type_] = {**entries.get(type_, {}), **(patch or {})}
    return {type_: _build(type_, raw) for type_, raw in entries.items()}


def get(type_: str) -> Provider | None:
    return all_providers().get(type_)


@receiver(setting_changed)
def _reset(setting: str, **kwargs: Any) -> None:
    if setting in ("CONNECTOR_PROVIDER_OVERRIDES", "CONNECTOR_CLIENTS"):
        all_providers.cache_clear()
