"""``callApi``: the metered connector proxy (sdk-protocol §3.5).

Order: the app's rate limit (429 + ``Retry-After``; the same per-app budget as the integration
proxy, ``PROXY_RATE_LIMIT_PER_MINUTE``, shared across processes through Redis), validate the
request (400: bad method, absolute/odd path, unknown host), find the app's connection (404), get
a fresh access token (refresh first when expiring), check the URL with the SSRF guard, reserve
the provider's price through the credit ledger (402 when short), send through
``integrations.egress`` without following redirects, refund when nothing was sent
(``not_sent``). Provider and transport outcomes are 200 envelopes; every call past
authentication writes one ``CallLog`` row (``integration_slug = "connector:<type>"``) through
``integrations.calllog``, the proxy's writer (after the response).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings

from integrations import bulkhead, calllog, egress, ratelimit, runtime
from integrations.models import CallLog
from integrations.proxy import (
    REQUEST_ID_HEADER,
    ProxyError,
    bulkhead_refusal,
    credits_refusal,
    rate_limit_refusal,
)
from workspaces import credits
from workspaces.models import App

from . import providers, services

log = logging.getLogger(__name__)

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"})
_NEVER_FORWARDED = egress.MANAGED_REQUEST_HEADERS | {"authorization", "cookie",
                                                    "proxy-authorization"}
_BAD_PATH = re.compile(r"[\x00-\x20\x7f\\#]")


class CallRefused(Exception):
    def __init__(self, status: int, detail: str, code: str, *,
                 extra: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, **self.extra}


@dataclass
class CallResult:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def call_policy() -> egress.EgressPolicy:
    base = egress.EgressPolicy.from_settings()
    timeout = float(getattr(settings, "CONNECTOR_CALL_TIMEOUT_SECONDS",
                            getattr(settings, "PROXY_TIMEOUT_SECONDS", 30.0)))
    max_bytes = int(getattr(settings, "PROXY_MAX_RESPONSE_BYTES", 10 * 1024 * 1024))
    return replace(base, connect_timeout=min(base.connect_timeout, timeout),
                   read_timeout=timeout, deadline=timeout, max_bytes=max_bytes)


def _path_and_query(path: Any, query: Any) -> tuple[str, str]:
    if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
        raise CallRefused(400, "path must be a string relative to the connector's API root, "
                               "starting with '/' (never an absolute URL).", "invalid_path")
    if _BAD_PATH.search(path) or len(path) > 4000:
        raise CallRefused(400, "path contains characters that are not allowed.", "invalid_path")
    raw_path, _, raw_query = path.partition("?")
    segments = raw_path.split("/")
    for seg in segments:
        decoded = seg
        for _ in range(3):
            decoded = re.sub(r"%2[eE]", ".", decoded)
        if decoded in (".", "..") or re.search(r"%2[fF]|%5[cC]", seg):
            raise CallRefused(400, "path must not contain '.', '..' or encoded slashes.",
                              "invalid_path")
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    if query is None:
        query = {}
    if not isinstance(query, dict):
        raise CallRefused(400, "query must be an object.", "invalid_query")
    for key, value in query.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, bool):
                pairs.append((str(key), "true" if item else "false"))
            elif isinstance(item, str | int | float):
                pairs.append((str(key), str(item)))
            elif item is None:
                continue
            else:
                raise CallRefused(400, f"query value of '{key}' must be a string, number, "
                                       "boolean or a list of those.", "invalid_query")
    return raw_path, urlencode(pairs)


def _forwarded_headers(provider: providers.Provider, given: Any) -> dict[str, str]:
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise CallRefused(400, "headers must be an object.", "invalid_headers")
    out: dict[str, str] = {}
    for name, value in given.items():
        lowered = str(name).lower()
        if lowered in _NEVER_FORWARDED or lowered not in provider.request_headers:
            continue  # dropped silently (the documented behaviour)
        try:
            egress.validate_header(str(name), str(value))
        except egress.EgressInvalidInput as exc:
            raise CallRefused(400, exc.reason, "invalid_headers")
        out[str(name)] = str(value)
    return out


def _decode(provider: providers.Provider, content_type: str | None,
            body: bytes) -> tuple[Any, str | None, str | None]:
    """(data, data_base64, content_type)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media and provider.is_binary(media):
        return None, base64.b64encode(body).decode("ascii"), content_type
    if not body:
        return None, None, None
    if "json" in media or not media:
        try:
            return json.loads(body), None, None
        except ValueError:
            pass
    try:
        return body.decode("utf-8"), None, None
    except UnicodeDecodeError:
        return None, base64.b64encode(body).decode("ascii"), content_type or \
            "application/octet-stream"


def _envelope(*, success: bool, phase: str, status_code: int | None, data: Any,
              data_base64: str | None = None, content_type: str | None = None,
              headers: dict[str, str] | None = None, credits_charged: int = 0) -> dict[str, Any]:
    return {"success": success, "phase": phase, "status_code": status_code, "data": data,
            "data_base64": data_base64, "content_type": content_type,
            "headers": headers or {}, "credits_charged": credits_charged}


@dataclass
class _Record:
    operation: str = ""
    phase: str = CallLog.Phase.NOT_SENT
    status_code: int | None = None
    error_code: str = ""
    request_bytes: int = 0
    response_bytes: int = 0
    credits: int = 0


def handle(app: App, integration_type: str, payload: Any, *, caller_kind: str,
           request_id: str) -> CallResult:
    started = time.perf_counter()
    record = _Record()
    result: CallResult | None = None
    try:
        result = _call(app, integration_type, payload, request_id=request_id, record=record)
    except CallRefused as exc:
        record.error_code = exc.code
        result = CallResult(exc.status, exc.body(), exc.headers)
    except services.ConnectorError as exc:
        record.error_code = exc.code
        result = CallResult(exc.status, {"detail": exc.message, "code": exc.code},
                            exc.headers)
    finally:
        status = result.status if result is not None else 500
        calllog.write_values(
            request_id=request_id, workspace_id=app.workspace_id, app_id=app.pk,
            integration_id=None,
            integration_slug=f"connector:{integration_type}"[:60],
            operation=record.operation[:600], caller_kind=caller_kind, phase=record.phase,
            status_code=record.status_code, response_status=status,
            error_code=(record.error_code or ("" if result else "server_error"))[:50],
            latency_ms=int((time.perf_counter() - started) * 1000),
            request_bytes=record.request_bytes, response_bytes=record.response_bytes,
            credits=record.credits)
    result.headers[REQUEST_ID_HEADER] = request_id
    return result


def _refused(refusal: ProxyError) -> CallRefused:
    """The proxy's refusal (same words, code and headers) in callApi's error type."""
    return CallRefused(refusal.status, refusal.detail, refusal.code, extra=refusal.extra,
                       headers=refusal.headers)


def _call(app: App, integration_type: str, payload: Any, *, request_id: str,
          record: _Record) -> CallResult:
    decision = ratelimit.hit(app.public_id)
    if not decision.allowed:
        raise _refused(rate_limit_refusal(decision))
    provider = providers.get(integration_type)
    if provider is None or not provider.hosts:
        raise CallRefused(404, f"Connector '{integration_type}' not found or it cannot be "
                               "called through the proxy.", "connector_not_found")
    if not isinstance(payload, dict):
        raise CallRefused(400, "The body must be a JSON object: {method, host?, path, query, "
                               "headers, body}.", "invalid_request")
    method = payload.get("method") or "GET"
    if not isinstance(method, str) or method not in METHODS:
        raise CallRefused(400, "method must be one of GET, POST, PUT, PATCH, DELETE or HEAD.",
                          "invalid_method")
    host_name = payload.get("host")
    if host_name is not None and not isinstance(host_name, str):
        raise CallRefused(400, "host must be a string.", "unknown_host")
    base = provider.host_url(host_name)
    if base is None:
        names = ", ".join(name for name, _ in provider.hosts)
        raise CallRefused(400, f"Unknown host '{host_name}' for connector "
                               f"'{integration_type}'; declared hosts: {names}.",
                          "unknown_host")
    path, query = _path_and_query(payload.get("path"), payload.get("query"))
    headers = _forwarded_headers(provider, payload.get("headers"))
    record.operation = f"{method} {host_name or provider.default_host}:{path}"

    conn = services.platform_connection(app, integration_type)
    if conn is None:
        raise CallRefused(404, f"Connector '{integration_type}' is not connected for this app.",
                          "NOT_FOUND")
    try:
        base = providers.fill(base, conn.connection_config)
    except providers.ProviderConfigError as exc:
        raise CallRefused(400, str(exc), "invalid_connection_config")
    token = services.access_token(conn)

    body: bytes | None = None
    if method not in ("GET", "HEAD") and payload.get("body") is not None:
        body = json.dumps(payload["body"], separators=(",", ":")).encode("utf-8")
        if not any(k.lower() == "content-type" for k in headers):
            headers["Content-Type"] = "application/json"
    if not any(k.lower() == "accept" for k in headers):
        headers["Accept"] = "application/json, */*;q=0.8"
    headers["Authorization"] = f"Bearer {token}"
    record.request_bytes = len(body or b"")
    url = base + path + (f"?{query}" if query else "")

    policy = call_policy()
    try:
        checked = egress.check_url(url, policy=policy)
    except egress.EgressError as exc:
        log.warning("connector %s: outbound call refused: %s", integration_type, exc.reason)
        record.error_code = "egress_blocked"
        return CallResult(200, _envelope(success=False, phase=egress.PHASE_NOT_SENT,
                                         status_code=None,
                                         data={"error": f"not sent: {exc.reason}"}))

    try:
        lease = bulkhead.acquire(app.public_id, f"connector:{app.workspace_id}:{integration_type}")
    except bulkhead.Full as exc:
        raise _refused(bulkhead_refusal(exc)) from None
    try:
        return _charge_and_send(app, integration_type, provider, method=method, url=url,
                                path=path, headers=headers, body=body, checked=checked,
                                policy=policy, request_id=request_id, record=record)
    finally:
        bulkhead.release(lease)


def _charge_and_send(app: App, integration_type: str, provider: providers.Provider, *,
                     method: str, url: str, path: str, headers: dict[str, str],
                     body: bytes | None, checked: egress.CheckedURL,
                     policy: egress.EgressPolicy, request_id: str,
                     record: _Record) -> CallResult:
    price = provider.price_for(method, path) if provider.metered else 0
    charged_at = None
    if price > 0:
        try:
            charged_at = credits.charge(
                app.workspace, price, app=app,
                reason=f"Connector call {integration_type} {method} {path}"[:200],
                idempotency_key=f"connector:{request_id}").created_at
        except credits.InsufficientCredits as exc:
            # the workspace's balance, or the app's monthly cap (exc.reason): nothing sent
            raise _refused(credits_refusal(exc)) from None
        record.credits = price
    runtime.release_db_connection()  # nothing held in PostgreSQL during the upstream wait

    pinned = list(checked.addresses)
    try:
        response = egress.request(method, url, headers=headers, body=body, policy=policy,
                                  resolver=lambda host, port: pinned, max_redirects=0)
    except egress.EgressError as exc:
        record.phase = exc.phase
        record.status_code = exc.status
        record.error_code = type(exc).__name__[:50]
        if exc.phase == egress.PHASE_NOT_SENT and record.credits:
            credits.refund(app.workspace, record.credits, app=app,
                           reason=f"Refund: connector call {integration_type} not sent"[:200],
                           idempotency_key=f"connector:{request_id}:refund",
                           charged_at=charged_at)
            record.credits = 0
        if exc.phase in (egress.PHASE_TIMED_OUT, egress.PHASE_SENT_UNCONFIRMED):
            message = "request outcome unknown"
        elif exc.phase == egress.PHASE_RESPONDED:
            message = "the response could not be read"  # cut off mid-body, or too large
        else:
            message = "not sent"
        return CallResult(200, _envelope(
            success=False, phase=exc.phase, status_code=exc.status,
            data={"error": message, "reason": exc.reason[:300]},
            credits_charged=record.credits))
    record.phase = egress.PHASE_RESPONDED
    record.status_code = response.status
    record.response_bytes = len(response.body)
    data, data_b64, content_type = _decode(
        provider, response.headers.get("content-type"),
        b"" if method == "HEAD" else response.body)
    exposed = {name.lower(): value for name, value in response.headers.items()
               if name.lower() in provider.response_headers}
    return CallResult(200, _envelope(
        success=200 <= response.status < 300, phase=egress.PHASE_RESPONDED,
        status_code=response.status, data=data, data_base64=data_b64,
        content_type=content_type, headers=exposed, credits_charged=record.credits))

