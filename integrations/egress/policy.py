"""``EgressPolicy``: what a request may reach (allowed ports, extra allowed or denied
networks, timeouts, sizes), cached per settings tuple."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .base import DEFAULT_ALLOWED_PORTS


@lru_cache(maxsize=64)
def _parse_networks(
    cidrs: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c.strip(), strict=False) for c in cidrs)


@dataclass(frozen=True)
class EgressPolicy:
    allow_cidrs: tuple[str, ...] = ()
    allowed_ports: frozenset[int] = frozenset(DEFAULT_ALLOWED_PORTS)
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    deadline: float = 60.0
    max_bytes: int = 10 * 1024 * 1024
    ca_certs: str | None = None  # CA bundle path; None means certifi (or the system store)
    allow_networks: tuple[Any, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        cidrs = (self.allow_cidrs,) if isinstance(self.allow_cidrs, str) else self.allow_cidrs
        object.__setattr__(self, "allow_cidrs", tuple(cidrs))
        object.__setattr__(self, "allowed_ports", frozenset(int(p) for p in self.allowed_ports))
        object.__setattr__(self, "allow_networks", _parse_networks(self.allow_cidrs))

    @classmethod
    def from_settings(cls) -> EgressPolicy:
        """Read ``EGRESS_*`` settings lazily; defaults when Django is not configured."""
        values: dict[str, Any] = {}
        try:
            from django.conf import settings
            from django.core.exceptions import ImproperlyConfigured

            try:
                values = {
                    "allow_cidrs": getattr(settings, "EGRESS_ALLOW_CIDRS", None),
                    "allowed_ports": getattr(settings, "EGRESS_ALLOWED_PORTS", None),
                    "connect_timeout": getattr(settings, "EGRESS_CONNECT_TIMEOUT", None),
                    "read_timeout": getattr(settings, "EGRESS_READ_TIMEOUT", None),
                    "deadline": getattr(settings, "EGRESS_DEADLINE", None),
                    "max_bytes": getattr(settings, "EGRESS_MAX_BYTES", None),
                    "ca_certs": getattr(settings, "EGRESS_CA_CERTS", None),
                }
            except ImproperlyConfigured:
                values = {}
        except ImportError:  # pragma: no cover - Django is always installed in the project
            values = {}
        for key in ("allow_cidrs", "allowed_ports"):
            if isinstance(values.get(key), list | set | frozenset):
                values[key] = tuple(values[key])
        return _cached_policy(tuple(sorted((k, v) for k, v in values.items() if v is not None)))


@lru_cache(maxsize=32)
def _cached_policy(items: tuple[tuple[str, Any], ...]) -> EgressPolicy:
    return EgressPolicy(**dict(items))
