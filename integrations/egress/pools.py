"""Connection pools per pinned address (the checked IP, keeping the name for Host, SNI and
the certificate check), the attempt tracker that says whether a request was sent."""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextvars import ContextVar
from typing import Any

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.connection import HTTPConnection, HTTPSConnection


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


class _ClosedWhenFull:
    """More calls to one upstream than the pool keeps alive is normal under gevent workers
    (``_pool_maxsize``): the connection of such a call is closed after it, as designed.
    urllib3 would log a WARNING ("Connection pool is full, discarding connection") for each,
    hundreds of lines whenever a burst of slow calls ends; this closes it quietly."""

    pool: Any

    def _put_conn(self, conn: Any) -> None:
        if conn is not None and self.pool is not None and self.pool.full():
            conn.close()
            return
        super()._put_conn(conn)  # type: ignore[misc]


class _HTTPPool(_ClosedWhenFull, HTTPConnectionPool):
    ConnectionCls = _TrackedHTTPConnection


class _HTTPSPool(_ClosedWhenFull, HTTPSConnectionPool):
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
