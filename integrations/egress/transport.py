"""``request``: one request through the pinned pools, redirects followed hop by hop (each hop
checked again), the body read under its size cap, urllib3's errors translated to an
``EgressError`` with its phase."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException
from urllib.parse import urljoin

import urllib3
from urllib3 import HTTPHeaderDict
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)

from .base import (
    _CHUNK,
    _USER_AGENT,
    MANAGED_REQUEST_HEADERS,
    PHASE_NOT_SENT,
    PHASE_RESPONDED,
    PHASE_SENT_UNCONFIRMED,
    PHASE_TIMED_OUT,
    REDIRECT_STATUSES,
    EgressBlocked,
    EgressConnectError,
    EgressError,
    EgressInvalidInput,
    EgressProtocolError,
    EgressTimeout,
    EgressTooLarge,
    EgressTooManyRedirects,
    Resolver,
)
from .headers import validate_header
from .policy import EgressPolicy
from .pools import _ATTEMPT, _Attempt, _get_pool
from .urls import _TOKEN_RE, CheckedURL, check_url


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
    length = resp.headers.get("content-length", "")
    try:
        if length.isdigit() and int(length) > cap:
            raise EgressTooLarge(f"response from {where} exceeds {cap} bytes", status=resp.status)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise EgressTimeout(f"deadline exceeded reading from {where}", status=resp.status)
            # looked up each time: once the whole body is read urllib3 hands the connection
            # back (or closes it, when the pool already keeps enough), and its socket is no
            # longer this call's to touch
            sock = getattr(resp.connection, "sock", None)
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
