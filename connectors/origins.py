"""Origins of connector URLs (RFC 6454: scheme, host, port): the server a URL reaches.

A workspace connector's client secret is bound to the origins of the URLs it was entered for
(``WorkspaceConnector.client_secret_origins``); it is only ever sent to those. Pure functions,
no ORM.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> str:
    """``scheme://host:port``: scheme and host in lower case, a trailing dot dropped and the
    default port written out, so ``HTTPS://Auth.Example.com/t`` and
    ``https://auth.example.com:443/x`` are the same origin. ``""`` for an empty URL."""
    url = (url or "").strip()
    if not url:
        return ""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".").lower()
    try:
        port = parts.port
    except ValueError:  # not a number: keep it as written, it can only compare unequal
        port = None
        host = (parts.netloc.rpartition("@")[2] or host).lower()
    port = port or DEFAULT_PORTS.get(scheme)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # IPv6
    return f"{scheme}://{host}" + (f":{port}" if port else "")


def origins_of(urls: Iterable[str]) -> list[str]:
    """The sorted, distinct origins of the non-empty URLs."""
    return sorted({o for o in (url_origin(u) for u in urls) if o})
