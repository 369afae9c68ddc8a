"""The URL layer: the raw URL string parsed by hand (http/https only, no userinfo, control
characters or backslashes, canonical host, allowed port) before any library can rewrite it,
then the host resolved once and every address checked (``check_url``); ``check_url_shape``
without DNS."""

from __future__ import annotations

import ipaddress
import re
import socket
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import idna

from .addresses import check_address
from .base import _MAX_URL_LENGTH, DEFAULT_PORTS, EgressBlocked, EgressConnectError, Resolver
from .policy import EgressPolicy

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


@lru_cache(maxsize=4096)  # a pure function of raw; refusals (raised) are not kept
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


@lru_cache(maxsize=4096)
def _canonical_address(raw: str) -> str:
    """The canonical text of an IP address (ValueError if it is none)."""
    return str(ipaddress.ip_address(raw))


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
            address = _canonical_address(raw)
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
