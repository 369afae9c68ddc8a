"""The deny table: every address that is not globally routable (private, loopback,
link-local, metadata, NAT64/6to4/Teredo forms of those), and ``check_address``."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

from .base import EgressBlocked
from .policy import EgressPolicy

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
    refusal = _refusal(address, policy or EgressPolicy.from_settings())
    if refusal:
        raise EgressBlocked(refusal)


@lru_cache(maxsize=4096)
def _refusal(address: str, policy: EgressPolicy) -> str | None:
    """Why ``address`` may not be connected to under ``policy``, or None: a pure function of
    the two (the policy is immutable), so the verdict of an address seen before is kept."""
    try:
        addr = ipaddress.ip_address(address)
    except ValueError:
        return f"not an IP address: {address!r}"
    if _hard_denied(addr):
        return f"address {addr} is never allowed ({_denial(addr)})"
    if any(addr.version == n.version and addr in n for n in policy.allow_networks):
        return None
    reason = _denial(addr)
    if reason:
        return f"address {addr} is not allowed ({reason})"
    return None
