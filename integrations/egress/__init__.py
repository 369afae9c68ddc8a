"""Outbound HTTP with an SSRF guard: the one way Switchboard talks to the outside world.

Used by the spec fetcher, the integration proxy and the OAuth connectors. Knows nothing of the
ORM. Two layers guard every request:

1. ``check_url`` parses the *raw* URL string itself (http/https only, no userinfo, whitespace,
   control characters or backslashes, canonical host, allowed port) before any library can
   "helpfully" rewrite it, then resolves the host exactly once and checks every address
   against a deny table of everything that is not globally routable.
2. The transport connects to the address that was checked (a urllib3 pool per pinned address),
   keeping the original name for the Host header, TLS SNI and the certificate check, so a
   second DNS answer (rebinding) never matters.

No proxies from the environment are used (urllib3 is used directly, so ``trust_env`` does not
exist here). Every error is an ``EgressError`` whose ``phase`` says whether the upstream may
have seen the request: ``not_sent``, ``responded``, ``timed_out`` or ``sent_unconfirmed``.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from http.client import HTTPException
from typing import Any
from urllib.parse import quote, unquote, urljoin

import idna
import urllib3
from urllib3 import HTTPConnectionPool, HTTPHeaderDict, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)

__all__ = [
    "HOP_BY_HOP_HEADERS",
    "MANAGED_REQUEST_HEADERS",
    "PHASE_NOT_SENT",
    "PHASE_RESPONDED",
    "PHASE_SENT_UNCONFIRMED",
    "PHASE_TIMED_OUT",
    "CheckedURL",
    "EgressBlocked",
    "EgressConnectError",
    "EgressError",
    "EgressInvalidInput",
    "EgressPolicy",
    "EgressProtocolError",
    "EgressResponse",
    "EgressTimeout",
    "EgressTooLarge",
    "EgressTooManyRedirects",
    "Resolver",
    "check_address",
    "check_url",
    "check_url_shape",
    "clear_pools",
    "request",
    "strip_hop_by_hop",
    "validate_header",
    "validate_path_param",
]

PHASE_NOT_SENT = "not_sent"
PHASE_RESPONDED = "responded"
PHASE_TIMED_OUT = "timed_out"
PHASE_SENT_UNCONFIRMED = "sent_unconfirmed"

DEFAULT_ALLOWED_PORTS: tuple[int, ...] = (80, 443, 8000, 8080, 8443)
DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HOP_BY_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
#: Request headers we always compute ourselves; a caller's copy is dropped (and integrations
#: and apps may not set them).
MANAGED_REQUEST_HEADERS = HOP_BY_HOP_HEADERS | {"host", "content-length"}
_USER_AGENT = "Switchboard-Egress/1.0"
_MAX_URL_LENGTH = 8192
_CHUNK = 64 * 1024

Resolver = Callable[[str, int], Iterable[str]]


# --------------------------------------------------------------------------- errors


class EgressError(Exception):
    """Base class. ``reason`` is safe to show to users: it never contains header values."""

    default_phase = PHASE_NOT_SENT

    def __init__(self, reason: str, *, phase: str | None = None, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.phase = phase or self.default_phase
        self.status = status  # upstream status when one was received (EgressTooLarge, ...)

    @property
    def may_have_been_sent(self) -> bool:
        return self.phase != PHASE_NOT_SENT


class EgressBlocked(EgressError):
    """Refused by policy before anything was sent (to this hop)."""


class EgressInvalidInput(EgressBlocked):
    """A path parameter, header or method that may not be forwarded."""


class EgressTooManyRedirects(EgressBlocked):
    """More redirects than ``max_redirects``; the earlier hops were sent."""

    default_phase = PHASE_SENT_UNCONFIRMED


class EgressConnectError(EgressError):
    """Could not resolve, connect or complete the TLS handshake: nothing was sent."""


class EgressTimeout(EgressError):
    """Connect timeout (``not_sent``), or read timeout / deadline (``timed_out``)."""

    default_phase = PHASE_TIMED_OUT


class EgressTooLarge(EgressError):
    """The response body exceeded the size cap (the upstream did answer)."""

    default_phase = PHASE_RESPONDED


class EgressProtocolError(EgressError):
    """Garbage answer or a failure in flight: the request may have run upstream."""

    default_phase = PHASE_SENT_UNCONFIRMED


# --------------------------------------------------------------------------- policy


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


# --------------------------------------------------------------------------- deny table

_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def _table(rows: Iterable[tuple[str, str]]) -> tuple[tuple[int, int, str, str], ...]:
    out = []
    for cidr, label in rows:
        net: _Net = ipaddress.ip_network(cidr)
        out.append((int(net.network_address), int(net.broadcast_address), label, cidr))
    return tuple(out)


_METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "168.63.129.16", "100.100.100.200", "fd00:ec2::254")
)
_V4_DENY = _table(
    [
        ("0.0.0.0/8", "'this network' / unspecified"),
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("240.0.0.0/4", "reserved"),
    ]
)
_V6_DENY = _table(
    [
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible (deprecated)"),
        ("::ffff:0:0:0/96", "IPv4-translated"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/23", "IETF protocol assignments (Teredo, benchmarking, ORCHID)"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "SRv6 segment identifiers"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    ]
)
_V4_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")

_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _lookup(table: tuple[tuple[int, int, str, str], ...], value: int) -> str | None:
    for start, end, label, cidr in table:
        if start <= value <= end:
            return f"{label}, {cidr}"
    return None


def _embedded_v4(addr: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    if addr in _V4_MAPPED:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF), "IPv4-mapped"
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF), "NAT64"
    if addr in _SIXTOFOUR:
        return ipaddress.IPv4Address((int(addr) >> 80) & 0xFFFFFFFF), "6to4"
    return None


def _denial(addr: _IPAddress) -> str | None:
    """Why ``addr`` is not a globally routable unicast address, or None when it is."""
    if addr in _METADATA:
        return "cloud metadata service"
    if isinstance(addr, ipaddress.IPv4Address):
        return _lookup(_V4_DENY, int(addr))
    embedded = _embedded_v4(addr)
    if embedded is not None:
        v4, form = embedded
        inner = _denial(v4)
        return f"{form} form of {v4} ({inner})" if inner else None
    label = _lookup(_V6_DENY, int(addr))
    if label is None and addr not in _GLOBAL_UNICAST:
        label = "not global unicast, outside 2000::/3"
    return label


def _hard_denied(addr: _IPAddress) -> bool:
    """Never reachable, whatever ``allow_cidrs`` says: metadata and unspecified addresses."""
    if addr in _METADATA or addr.is_unspecified:
        return True
    embedded = _embedded_v4(addr) if isinstance(addr, ipaddress.IPv6Address) else None
    return embedded is not None and _hard_denied(embedded[0])


def check_address(address: str, *, policy: EgressPolicy | None = None) -> None:
    """Raise ``EgressBlocked`` unless ``address`` (an IP string) may be connected to."""
    policy = policy or EgressPolicy.from_settings()
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        raise EgressBlocked(f"not an IP address: {address!r}") from None
    if _hard_denied(addr):
        raise EgressBlocked(f"address {addr} is never allowed ({_denial(addr)})")
    if any(addr.version == n.version and addr in n for n in policy.allow_networks):
        return
    reason = _denial(addr)
    if reason:
        raise EgressBlocked(f"address {addr} is not allowed ({reason})")


# --------------------------------------------------------------------------- URL layer

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
_BAD_ASCII_RE = re.compile(r"[\x00-\x20\x7f\\]")
_LABEL_RE = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")
_NUMERIC_LABEL_RE = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)\Z")
_PORT_RE = re.compile(r"[1-9][0-9]{0,4}\Z")
_TOKEN_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+\Z")
_BAD_UNICODE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


def _has_bad_chars(value: str) -> bool:
    if _BAD_ASCII_RE.search(value):
        return True
    if value.isascii():
        return False
    return any(
        not c.isascii() and unicodedata.category(c) in _BAD_UNICODE_CATEGORIES for c in value
    )


@dataclass(frozen=True)
class CheckedURL:
    scheme: str
    host: str  # IDNA A-label, lower case; IPv6 without brackets
    port: int
    path_and_query: str
    addresses: tuple[str, ...]  # every address was checked; connect only to these
    is_ip_literal: bool = False

    @property
    def origin(self) -> tuple[str, str, int]:
        return (self.scheme, self.host, self.port)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if DEFAULT_PORTS[self.scheme] == self.port else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.path_and_query}"


def _parse_host(raw: str) -> tuple[str, bool]:
    """Return (canonical host, is_ip_literal) or raise EgressBlocked."""
    if not raw:
        raise EgressBlocked("URL has no host")
    if "%" in raw:
        raise EgressBlocked("host must not contain '%'")
    if raw.startswith("["):
        inner = raw[1:-1] if raw.endswith("]") else ""
        try:
            return str(ipaddress.IPv6Address(inner)), True
        except ValueError:
            raise EgressBlocked("host is not a valid bracketed IPv6 address") from None
    if raw.endswith(".") and not raw.endswith(".."):
        # A fully qualified name ("api.example.com."): the same host. Canonicalised without
        # the dot (Host header, TLS SNI and certificate names never carry it), then resolved
        # and checked like any other name; "." or "a.." still fail the label check below.
        raw = raw[:-1]
    if raw.isascii():
        host = raw.lower()
    else:
        try:
            host = idna.encode(raw, uts46=True, std3_rules=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            raise EgressBlocked("host is not a valid internationalised domain name") from None
    labels = host.split(".")
    if _NUMERIC_LABEL_RE.match(labels[-1]):
        # WHATWG parses a host ending in a number as IPv4; only the canonical dotted quad is
        # accepted, so 127.1, 2130706433, 0x7f.1 and 0177.0.0.1 are refused outright.
        try:
            canonical = str(ipaddress.IPv4Address(host))
        except ValueError:
            canonical = ""
        if canonical != raw:
            raise EgressBlocked("host is a non-canonical IP address literal")
        return canonical, True
    if len(host) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise EgressBlocked("host is not a valid hostname")
    return host, False


def _parse_url(url: str, policy: EgressPolicy) -> tuple[str, str, int, str, bool]:
    if not isinstance(url, str):
        raise EgressBlocked("URL must be a string")
    if len(url) > _MAX_URL_LENGTH:
        raise EgressBlocked("URL is too long")
    if _has_bad_chars(url):
        raise EgressBlocked("URL contains whitespace, control characters or a backslash")
    match = _SCHEME_RE.match(url)
    if not match:
        raise EgressBlocked("URL must be absolute and start with http:// or https://")
    scheme = match.group(1).lower()
    if scheme not in DEFAULT_PORTS:
        raise EgressBlocked(f"scheme {scheme!r} is not allowed (only http and https)")
    rest = url[match.end() :]
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    if "@" in authority:
        raise EgressBlocked("URL must not contain userinfo (user@host)")
    port_text = None
    if authority.startswith("["):
        end = authority.find("]")
        host_text, after = authority[: end + 1], authority[end + 1 :]
        if end < 0 or (after and not after.startswith(":")):
            raise EgressBlocked("malformed bracketed host")
        port_text = after[1:] if after else None
    elif authority.count(":") > 1:
        raise EgressBlocked("malformed host: unbracketed ':'")
    else:
        host_text, _, port_text = authority.partition(":")
        port_text = port_text if ":" in authority else None
    host, is_ip = _parse_host(host_text)
    if port_text is None:
        port = DEFAULT_PORTS[scheme]
    elif _PORT_RE.match(port_text) and int(port_text) <= 65535:
        port = int(port_text)
    else:
        raise EgressBlocked("port is not a canonical number between 1 and 65535")
    if port not in policy.allowed_ports:
        raise EgressBlocked(f"port {port} is not allowed")
    tail = tail.partition("#")[0]
    path_and_query = tail if tail.startswith("/") else "/" + tail
    return scheme, host, port, path_and_query, is_ip


def _default_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [str(info[4][0]).partition("%")[0] for info in infos]


def check_url(
    url: str, *, policy: EgressPolicy | None = None, resolver: Resolver | None = None
) -> CheckedURL:
    """Both checks on one URL; returns the addresses to connect to or raises EgressBlocked.

    The host is resolved once. If any returned address is denied, the URL is refused.
    DNS failures raise ``EgressConnectError`` (nothing was sent).
    """
    policy = policy or EgressPolicy.from_settings()
    scheme, host, port, path_and_query, is_ip = _parse_url(url, policy)
    if is_ip:
        raw_addresses: list[str] = [host]
    else:
        try:
            raw_addresses = list((resolver or _default_resolver)(host, port))
        except (OSError, UnicodeError) as exc:
            raise EgressConnectError(f"could not resolve host {host!r}: {exc}") from None
    addresses: list[str] = []
    for raw in raw_addresses:
        try:
            address = str(ipaddress.ip_address(raw))
        except ValueError:
            raise EgressBlocked(f"host {host!r} resolved to an invalid address") from None
        try:
            check_address(address, policy=policy)
        except EgressBlocked as exc:
            prefix = "" if is_ip else f"host {host!r} resolves to a denied address: "
            raise EgressBlocked(prefix + exc.reason) from None
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise EgressConnectError(f"host {host!r} did not resolve to any address")
    return CheckedURL(scheme, host, port, path_and_query, tuple(addresses), is_ip)


#: Host names whose address is known without asking DNS (RFC 6761 ``localhost``, the cloud
#: metadata service names): ``check_url_shape`` checks them as that address, so they are
#: refused unless the policy's allowlist permits the address.
_WELL_KNOWN_HOSTS = {
    "localhost": "127.0.0.1",
    "metadata.google.internal": "169.254.169.254",
    "metadata.goog": "169.254.169.254",
    "metadata": "169.254.169.254",
    "instance-data": "169.254.169.254",
    "instance-data.ec2.internal": "169.254.169.254",
}


def _well_known_address(host: str) -> str | None:
    name = host.lower().rstrip(".")
    if name.endswith(".localhost"):
        return "127.0.0.1"
    return _WELL_KNOWN_HOSTS.get(name)


def check_url_shape(url: str, *, policy: EgressPolicy | None = None) -> CheckedURL:
    """The URL-string layer only, plus the deny table for IP literals and well-known local
    names (``localhost``, cloud metadata hosts); no DNS, no connection.

    For configuration forms (an integration's base URL, a spec URL, a connector's endpoints):
    any other hostname is accepted here and checked again, resolved and pinned, on every real
    call.
    """
    policy = policy or EgressPolicy.from_settings()
    scheme, host, port, path_and_query, is_ip = _parse_url(url, policy)
    if is_ip:
        check_address(host, policy=policy)
    else:
        address = _well_known_address(host)
        if address is not None:
            try:
                check_address(address, policy=policy)
            except EgressBlocked as exc:
                raise EgressBlocked(f"{host} is a local name ({exc.reason})") from None
    return CheckedURL(scheme, host, port, path_and_query, (host,) if is_ip else (), is_ip)


# --------------------------------------------------------------------------- helpers


def validate_path_param(value: str) -> str:
    """Return ``value`` fully percent-encoded as one path segment, or raise.

    Refuses ``/``, ``\\``, ``?``, ``#``, control characters and ``.``/``..``, also after any
    number of rounds of percent-decoding (an upstream may decode twice).
    """
    if not isinstance(value, str) or value == "":
        raise EgressInvalidInput("path parameter must be a non-empty string")
    current = value
    for _ in range(5):
        if current in (".", "..") or any(c in current for c in "/\\?#"):
            raise EgressInvalidInput("path parameter must be a single path segment")
        if any(unicodedata.category(c) == "Cc" for c in current):
            raise EgressInvalidInput("path parameter contains control characters")
        decoded = unquote(current)
        if decoded == current:
            break
        current = decoded
    else:
        raise EgressInvalidInput("path parameter is encoded too many times")
    return quote(value, safe="")


def validate_header(name: str, value: str) -> None:
    """Raise ``EgressInvalidInput`` for an unusable header. The value is never echoed."""
    if not isinstance(name, str) or not _TOKEN_RE.match(name):
        raise EgressInvalidInput("invalid header name")
    if not isinstance(value, str):
        raise EgressInvalidInput(f"header {name!r} must have a string value")
    if any((ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value):
        raise EgressInvalidInput(f"header {name!r} contains CR, LF, NUL or control characters")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise EgressInvalidInput(f"header {name!r} is not ISO-8859-1 text") from None


def strip_hop_by_hop(headers: Mapping[str, str]) -> HTTPHeaderDict:
    """Copy of ``headers`` without hop-by-hop headers (also those named in Connection)."""
    source = headers if isinstance(headers, HTTPHeaderDict) else HTTPHeaderDict(headers)
    drop = set(HOP_BY_HOP_HEADERS)
    for value in source.getlist("connection"):
        drop.update(token.strip().lower() for token in value.split(","))
    out = HTTPHeaderDict()
    for name, value in source.iteritems():
        if name.lower() not in drop:
            out.add(name, value)
    return out


# --------------------------------------------------------------------------- transport


class _Attempt:
    __slots__ = ("sent",)

    def __init__(self) -> None:
        self.sent = False


_ATTEMPT: ContextVar[_Attempt | None] = ContextVar("egress_attempt", default=None)


def _note_send(conn: HTTPConnection) -> None:
    """Connect first (a failure there is 'not sent'), then record that bytes are going out."""
    if conn.sock is None:
        conn.connect()
    attempt = _ATTEMPT.get()
    if attempt is not None:
        attempt.sent = True


class _TrackedHTTPConnection(HTTPConnection):
    def send(self, data: Any) -> None:
        _note_send(self)
        super().send(data)


class _TrackedHTTPSConnection(HTTPSConnection):
    def send(self, data: Any) -> None:
        _note_send(self)
        super().send(data)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection


_POOLS: OrderedDict[tuple[Any, ...], HTTPConnectionPool] = OrderedDict()
_POOLS_LOCK = threading.Lock()
_MAX_POOLS = 256
_POOL_MAXSIZE = 10


def _pool_maxsize() -> int:
    """Kept-alive connections per pool: ``EGRESS_POOL_MAXSIZE`` (under gevent workers many
    calls to one upstream are in flight at once; beyond this many, a connection is made for
    the call and closed after it, nothing waits for a free one)."""
    try:
        from django.conf import settings

        return max(1, int(getattr(settings, "EGRESS_POOL_MAXSIZE", _POOL_MAXSIZE)))
    except Exception:  # Django not configured
        return _POOL_MAXSIZE


def _ca_bundle(configured: str | None) -> str | None:
    if configured:
        return configured
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with requests
        return None
    return certifi.where()


def _get_pool(
    scheme: str, ip: str, port: int, host: str, ca_certs: str | None
) -> HTTPConnectionPool:
    key = (scheme, ip, port, host, ca_certs)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is not None:
            _POOLS.move_to_end(key)
            return pool
        common: dict[str, Any] = {"maxsize": _pool_maxsize(), "block": False,
                                  "retries": False}
        if scheme == "https":
            pool = _HTTPSPool(
                ip,
                port,
                cert_reqs="CERT_REQUIRED",
                ca_certs=_ca_bundle(ca_certs),
                server_hostname=host,
                assert_hostname=host,
                **common,
            )
        else:
            pool = _HTTPPool(ip, port, **common)
        _POOLS[key] = pool
        while len(_POOLS) > _MAX_POOLS:
            _POOLS.popitem(last=False)[1].close()
        return pool


def clear_pools() -> None:
    """Close every pooled connection (tests, shutdown, after a CA bundle change)."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.close()


def _caused_by_timeout(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, TimeoutError | ReadTimeoutError):
            return True
        nested = [a for a in getattr(seen, "args", ()) if isinstance(a, BaseException)]
        seen = seen.__cause__ or seen.__context__ or (nested[0] if nested else None)
    return False


def _translate(exc: Exception, sent: bool, where: str) -> EgressError:
    if isinstance(exc, NewConnectionError):  # subclasses ConnectTimeoutError in urllib3 2.x
        cause = exc.__cause__ or exc
        return EgressConnectError(f"could not connect to {where}: {cause}")
    if isinstance(exc, ConnectTimeoutError):
        return EgressTimeout(f"connecting to {where} timed out", phase=PHASE_NOT_SENT)
    if not sent:
        if isinstance(exc, SSLError):
            return EgressConnectError(f"TLS handshake with {where} failed: {exc}")
        return EgressConnectError(f"could not connect to {where}: {exc}")
    if _caused_by_timeout(exc):
        return EgressTimeout(f"{where} did not answer in time", phase=PHASE_TIMED_OUT)
    return EgressProtocolError(f"request to {where} failed in flight: {exc}")


@dataclass(frozen=True)
class EgressResponse:
    status: int
    headers: HTTPHeaderDict
    body: bytes
    url: str
    elapsed: float
    redirects: tuple[str, ...] = ()


def _send_once(
    checked: CheckedURL,
    ip: str,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    policy: EgressPolicy,
    deadline: float,
) -> urllib3.BaseHTTPResponse:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise EgressTimeout("deadline exceeded before connecting", phase=PHASE_NOT_SENT)
    pool = _get_pool(checked.scheme, ip, checked.port, checked.host, policy.ca_certs)
    timeout = urllib3.Timeout(
        connect=min(policy.connect_timeout, remaining), read=min(policy.read_timeout, remaining)
    )
    attempt = _Attempt()
    token = _ATTEMPT.set(attempt)
    try:
        return pool.urlopen(
            method,
            checked.path_and_query,
            body=body,
            headers=headers,
            retries=False,
            redirect=False,
            assert_same_host=False,
            timeout=timeout,
            preload_content=False,
            release_conn=False,
            decode_content=True,
        )
    except (HTTPError, HTTPException, OSError) as exc:
        raise _translate(exc, attempt.sent, checked.host_header) from exc
    finally:
        _ATTEMPT.reset(token)


def _read_body(
    resp: urllib3.BaseHTTPResponse, cap: int, policy: EgressPolicy, deadline: float, where: str
) -> bytes:
    chunks: list[bytes] = []
    total = 0
    sock = getattr(getattr(resp, "connection", None), "sock", None)
    length = resp.headers.get("content-length", "")
    try:
        if length.isdigit() and int(length) > cap:
            raise EgressTooLarge(f"response from {where} exceeds {cap} bytes", status=resp.status)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EgressTimeout(f"deadline exceeded reading from {where}", status=resp.status)
            if sock is not None:
                sock.settimeout(min(policy.read_timeout, remaining))
            chunk = resp.read1(_CHUNK)
            if not chunk:
                break
            total += len(chunk)
            if total > cap:
                raise EgressTooLarge(
                    f"response from {where} exceeds {cap} bytes", status=resp.status
                )
            chunks.append(chunk)
    except EgressError:
        resp.close()
        raise
    except (HTTPError, HTTPException, OSError) as exc:
        resp.close()
        if _caused_by_timeout(exc):
            raise EgressTimeout(f"{where} stopped sending", status=resp.status) from exc
        raise EgressProtocolError(
            f"broken response body from {where}: {exc}", phase=PHASE_RESPONDED, status=resp.status
        ) from exc
    finally:
        resp.release_conn()
    return b"".join(chunks)


def _clean_request_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in (headers or {}).items():
        validate_header(name, value)
        if name.lower() not in MANAGED_REQUEST_HEADERS:
            out[name] = value
    return out


def _response_headers(resp: urllib3.BaseHTTPResponse) -> HTTPHeaderDict:
    headers = HTTPHeaderDict(resp.headers)
    encoding = headers.get("content-encoding", "")
    decoders = getattr(urllib3.HTTPResponse, "CONTENT_DECODERS", ())
    tokens = [t.strip().lower() for t in encoding.split(",") if t.strip()]
    if tokens and all(t in decoders or t == "identity" for t in tokens):
        headers.discard("content-encoding")  # the body we return is decoded
        headers.discard("content-length")
    return headers


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    policy: EgressPolicy | None = None,
    resolver: Resolver | None = None,
    max_redirects: int = 0,
    max_bytes: int | None = None,
) -> EgressResponse:
    """Send one request through both guards and return the whole (capped) response.

    With ``max_redirects=0`` a 3xx is returned as the answer. Otherwise up to
    ``max_redirects`` hops are followed, each checked by both layers; when the origin
    changes every caller header is dropped (and a body is never re-sent cross-origin).
    """
    policy = policy or EgressPolicy.from_settings()
    cap = policy.max_bytes if max_bytes is None else max_bytes
    if not isinstance(method, str) or not _TOKEN_RE.match(method):
        raise EgressInvalidInput("invalid HTTP method")
    method = method.upper()
    if body is not None and not isinstance(body, bytes | bytearray | memoryview):
        raise EgressInvalidInput("body must be bytes")
    send_headers = _clean_request_headers(headers)
    started = time.monotonic()
    deadline = started + policy.deadline
    checked = check_url(url, policy=policy, resolver=resolver)
    visited: list[str] = []
    while True:
        hop_headers = {"Host": checked.host_header, **send_headers}
        if not any(k.lower() == "user-agent" for k in send_headers):
            hop_headers["User-Agent"] = _USER_AGENT
        resp = _send_hop(checked, method, hop_headers, body, policy, deadline, sent=bool(visited))
        location = resp.headers.get("location")
        if not (max_redirects and resp.status in REDIRECT_STATUSES and location):
            data = _read_body(resp, cap, policy, deadline, checked.host_header)
            return EgressResponse(
                status=resp.status,
                headers=_response_headers(resp),
                body=data,
                url=checked.url,
                elapsed=time.monotonic() - started,
                redirects=tuple(visited),
            )
        _read_body(resp, cap, policy, deadline, checked.host_header)  # drain for reuse
        visited.append(checked.url)
        if len(visited) > max_redirects:
            raise EgressTooManyRedirects(f"more than {max_redirects} redirects")
        if resp.status == 303 or (resp.status in (301, 302) and method == "POST"):
            method = "GET" if method != "HEAD" else method
            body = None
            send_headers = {k: v for k, v in send_headers.items() if k.lower() != "content-type"}
        try:
            target = check_url(urljoin(checked.url, location), policy=policy, resolver=resolver)
        except EgressError as exc:
            exc.phase = PHASE_SENT_UNCONFIRMED
            exc.reason = f"redirect refused: {exc.reason}"
            exc.args = (exc.reason,)
            raise
        if target.origin != checked.origin:
            if body:
                raise EgressBlocked(
                    "refusing to re-send a request body to another origin",
                    phase=PHASE_SENT_UNCONFIRMED,
                )
            send_headers = {}
        checked = target


def _send_hop(
    checked: CheckedURL,
    method: str,
    headers: dict[str, str],
    body: bytes | None,
    policy: EgressPolicy,
    deadline: float,
    *,
    sent: bool,
) -> urllib3.BaseHTTPResponse:
    """Try each checked address in order while nothing has been sent."""
    error: EgressError | None = None
    for ip in checked.addresses:
        try:
            return _send_once(checked, ip, method, headers, body, policy, deadline)
        except EgressError as exc:
            error = exc
            if exc.phase != PHASE_NOT_SENT or time.monotonic() >= deadline:
                break
    assert error is not None
    if sent and error.phase == PHASE_NOT_SENT:
        error.phase = PHASE_SENT_UNCONFIRMED  # an earlier hop reached an upstream
    raise error
