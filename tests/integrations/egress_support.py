"""Test helpers for integrations.egress: a real threaded HTTP(S) server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Seen:
    """One request as the upstream received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    client_port: int


Route = Callable[["Handler"], None]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 64 * 1024  # one write per answer (flushed after each request), and no Nagle
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client_port=self.client_address[1],
        )
        upstream = self.server.upstream
        with upstream.lock:
            upstream.seen.append(seen)
        route = upstream.routes.get(self.path.partition("?")[0], echo)
        route(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

    def reply(
        self, status: int, body: bytes = b"", headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.send_response(status)
        names = set()
        for name, value in headers:
            names.add(name.lower())
            self.send_header(name, value)
        if "content-length" not in names and "transfer-encoding" not in names:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    upstream: Upstream

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up on purpose (timeouts, size caps) are expected here


@dataclass
class Upstream:
    """A local upstream. ``routes`` maps a path (no query) to a handler; default: echo."""

    tls: ssl.SSLContext | None = None
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), Handler)
        self._server.upstream = self
        if self.tls is not None:
            self.tls.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --------------------------------------------------------------------------- routes


def echo(h: Handler) -> None:
    info = {"method": h.command, "path": h.path, "headers": dict(h.headers.items())}
    h.reply(200, json.dumps(info).encode(), [("Content-Type", "application/json")])


def redirect(location: str, status: int = 302) -> Route:
    return lambda h: h.reply(status, b"moved", [("Location", location)])


def body(data: bytes, *, chunked: bool = False, gzipped: bool = False) -> Route:
    def route(h: Handler) -> None:
        payload = gzip.compress(data) if gzipped else data
        headers = [("Content-Encoding", "gzip")] if gzipped else []
        if not chunked:
            h.reply(200, payload, headers)
            return
        h.reply(200, b"", [*headers, ("Transfer-Encoding", "chunked")])
        for i in range(0, len(payload), 1000):
            part = payload[i : i + 1000]
            h.wfile.write(b"%x\r\n%b\r\n" % (len(part), part))
        h.wfile.write(b"0\r\n\r\n")

    return route


def slow(delay: float) -> Route:
    def route(h: Handler) -> None:
        time.sleep(delay)
        h.reply(200, b"late")

    return route


def drip(interval: float, count: int) -> Route:
    """Headers at once, then one byte per ``interval``."""

    def route(h: Handler) -> None:
        h.reply(200, b"", [("Content-Length", str(count))])
        try:
            for _ in range(count):
                h.wfile.write(b"x")
                h.wfile.flush()
                time.sleep(interval)
        except OSError:
            pass

    return route


def raw(data: bytes) -> Route:
    """Write ``data`` as the whole answer, then close."""

    def route(h: Handler) -> None:
        h.wfile.write(data)
        h.wfile.flush()
        h.close_connection = True

    return route


# --------------------------------------------------------------------------- TLS


def make_tls(tmp: Path, hostname: str) -> tuple[ssl.SSLContext, str]:
    """A self-signed certificate for ``hostname``: (server context, CA bundle path)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx, str(cert_path)
