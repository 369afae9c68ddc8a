"""The integration proxy: one ``integrations.custom.call`` from the SDK request to the envelope.

Order of the checks (cheapest and least revealing first), each refusal answered before
anything is sent and without a charge:

1. the integration, by slug, in the app's workspace (404), then its cached config;
2. the operation among the selected ones (404), ``method:path`` per sdk-protocol §5;
3. the parameters against the stored operation's schemas, path-parameter safety, the app's
   extra headers (400 with field errors);
4. the URL through the SSRF guard, resolved once (502 ``egress_blocked`` / unresolvable);
5. per-app rate limit (429 ``rate_limited`` + ``Retry-After``) and the bulkheads: calls in
   flight for the app and for the integration (429 ``concurrency_limited``), checked together
   in one Redis round trip (``integrations.bulkhead.admit``); a call refused before this point
   (404, 400, 502 not sent) is not counted by the rate limit;
6. one credit reserved through the ledger (402 when the workspace has none left), committed
   before anything is sent; then the database connection goes back to the pool;
7. the upstream call through ``egress`` (no redirects followed). If it turns out nothing was
   sent (``phase == not_sent``: connection refused, connect timeout), the credit is refunded,
   so exactly the calls that reached the upstream are billed, even under concurrency.

Any upstream HTTP answer becomes a 200 envelope ``{success, status_code, data}``; binary
bodies come back as ``data: null`` + ``data_base64`` + ``content_type``. Every call that got
past authentication writes one ``CallLog`` row (never header values or bodies) through
``integrations.calllog``, after the response.

One module per job; each imports only the ones above it in this list:

    base       the error and result types, the prepared request, limits
    request    the operation matched, parameters checked, the upstream request built
    answer     the upstream's answer as the SDK's envelope; egress failures as SDK errors
    __init__   the call itself (checks, bulkheads, charge, send, refund) and its log row

Callers use this package (``from integrations import proxy``); setting a name on it sets it in
every module that uses it (``workspaces.packages``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils import timezone

from workspaces import credits
from workspaces.models import App
from workspaces.packages import forward_names

from .. import bulkhead, calllog, egress, ratelimit, runtime
from ..models import CallLog, WorkspaceIntegration
from . import answer, base, request
from .answer import _egress_failure, _plain_reason, decode_body, envelope, response_headers
from .base import (
    _CREDITS_402_MESSAGE,
    APP_FORBIDDEN_HEADERS,
    DEFAULT_ACCEPT,
    HIDDEN_RESPONSE_HEADERS,
    MAX_MESSAGE,
    MAX_PAYLOAD_ERRORS,
    REQUEST_ID_HEADER,
    ProxyError,
    ProxyResult,
    _clip,
    _Prepared,
    new_request_id,
)
from .request import match_operation, prepare

log = logging.getLogger(__name__)

LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass
class _Record:
    """What the call log row will say (never header values or bodies)."""

    integration_id: int | None = None
    operation: str = ""
    phase: str = CallLog.Phase.NOT_SENT
    status_code: int | None = None
    error_code: str = ""
    request_bytes: int = 0
    response_bytes: int = 0
    credits: int = 0


# --------------------------------------------------------------------------- settings


@lru_cache(maxsize=16)
def _derive_policy(base: egress.EgressPolicy, timeout: float, connect: float,
                   max_bytes: int) -> egress.EgressPolicy:
    return replace(base, connect_timeout=min(connect, timeout), read_timeout=timeout,
                   deadline=timeout, max_bytes=max_bytes)


def proxy_policy() -> egress.EgressPolicy:
    """The egress policy for proxied calls: the EGRESS_* settings plus the proxy's timeouts."""
    return _derive_policy(
        egress.EgressPolicy.from_settings(),
        float(getattr(settings, "PROXY_TIMEOUT_SECONDS", 30.0)),
        float(getattr(settings, "PROXY_CONNECT_TIMEOUT_SECONDS", 5.0)),
        int(getattr(settings, "PROXY_MAX_RESPONSE_BYTES", 10 * 1024 * 1024)),
    )


# --------------------------------------------------------------------------- entry point


def handle(app: App, *, caller_kind: str, slug: str, operation: str, query_string: str,
           body: Any, request_id: str, caller_name: str = "") -> ProxyResult:
    """Run one call for an authenticated caller of ``app``; always writes its call log row."""
    started = time.perf_counter()
    record = _Record(operation=_clip(operation + (f"?{query_string}" if query_string else ""),
                                     600))
    result: ProxyResult | None = None
    try:
        result = _call(app, slug=slug, operation=operation, query_string=query_string,
                       body=body, request_id=request_id, record=record)
    except ProxyError as exc:
        record.error_code = exc.code
        if exc.phase:
            record.phase = exc.phase
        result = ProxyResult(exc.status, exc.body(), exc.headers)
    finally:
        latency_ms = int((time.perf_counter() - started) * 1000)
        status = result.status if result is not None else 500
        if result is None:
            record.error_code = record.error_code or "server_error"
        _write_log(app, caller_kind=caller_kind, caller_name=caller_name, slug=slug,
                   request_id=request_id,
                   record=record, response_status=status, latency_ms=latency_ms)
    result.headers[REQUEST_ID_HEADER] = request_id
    return result


def _call(app: App, *, slug: str, operation: str, query_string: str, body: Any,
          request_id: str, record: _Record) -> ProxyResult:
    slug = slug.strip()
    ref = runtime.lookup(app.workspace_id, slug)
    if ref is None:
        raise ProxyError(404, f"Custom integration '{slug}' not found in workspace",
                         "integration_not_found")
    record.integration_id = ref.id
    try:
        config = runtime.config_for(ref)
    except WorkspaceIntegration.DoesNotExist:  # deleted by another process since it was cached
        record.integration_id = None
        runtime.forget_lookups()
        raise ProxyError(404, f"Custom integration '{slug}' not found in workspace",
                         "integration_not_found") from None
    except _headers_unavailable() as exc:
        log.warning("integration %s: configured headers unavailable: %s", slug, exc.header)
        raise ProxyError(503, f"The integration '{slug}' can't be used right now: one of its "
                              "configured headers can't be loaded. A workspace admin must "
                              "re-enter it.", "integration_headers_unavailable")
    requested = operation + (f"?{query_string}" if query_string else "")
    key = match_operation(config, requested)
    if key is None:
        raise ProxyError(404, f"Operation '{requested.strip()}' not found in integration "
                              f"'{slug}'", "operation_not_found")
    plan = config.plan(key)
    record.operation = key
    if not isinstance(body, dict):
        raise ProxyError(400, "The request body must be a JSON object: {payload?, "
                              "path_params?, query_params?, headers?}.", "invalid_params")
    prepared = prepare(config, plan, body)
    record.request_bytes = len(prepared.body or b"")

    policy = proxy_policy()
    try:
        checked = egress.check_url(prepared.url, policy=policy)
    except egress.EgressBlocked as exc:
        log.warning("integration %s: outbound call refused: %s", slug, exc.reason)
        raise ProxyError(
            502,
            "Failed to connect to external API: the integration's address is refused by the "
            "outbound network policy (private, internal or reserved addresses are never "
            "called).",
            "egress_blocked", phase=CallLog.Phase.NOT_SENT)
    except egress.EgressError as exc:  # DNS failure: nothing was sent
        raise ProxyError(502, f"Failed to connect to external API: {_plain_reason(exc)}",
                         "upstream_unreachable", phase=CallLog.Phase.NOT_SENT)

    try:  # the rate limit and the bulkheads: one Redis round trip
        lease = bulkhead.admit(app.public_id, f"custom:{ref.id}")
    except ratelimit.Limited as exc:
        raise rate_limit_refusal(exc.decision) from None
    except bulkhead.Full as exc:
        raise bulkhead_refusal(exc) from None
    try:
        return _charge_and_send(app, slug=slug, key=key, ref=ref, prepared=prepared,
                                checked=checked, policy=policy, body=body,
                                request_id=request_id, record=record)
    finally:
        bulkhead.release(lease)


def credits_refusal(exc: credits.InsufficientCredits) -> ProxyError:
    """402 in the SDK's error shape: the workspace's balance, or the app's monthly cap
    (``exc.reason``), would be exceeded; nothing sent."""
    reason = getattr(exc, "reason", "integration_credits_limit_reached")
    message = getattr(exc, "message", None) or _CREDITS_402_MESSAGE
    return ProxyError(402, message, reason,
                      extra={"message": message, "extra_data": {"reason": reason}})


def rate_limit_refusal(decision: ratelimit.Decision) -> ProxyError:
    """429 + ``Retry-After`` in the SDK's error shape: nothing charged or sent."""
    return ProxyError(
        429,
        f"Rate limit exceeded for this app: {decision.limit} integration calls per minute. "
        f"Retry after {decision.retry_after} seconds.",
        "rate_limited",
        extra={"retry_after": decision.retry_after},
        headers={"Retry-After": str(decision.retry_after)},
    )


def bulkhead_refusal(exc: bulkhead.Full) -> ProxyError:
    """429 in the SDK's error shape (like the rate limit): answered before anything is
    charged or sent."""
    whose = "this app" if exc.scope == "app" else "this integration"
    return ProxyError(
        429,
        f"Too many calls in flight for {whose}: at most {exc.limit} at a time. Retry after "
        f"{exc.retry_after} seconds.",
        "concurrency_limited",
        extra={"retry_after": exc.retry_after},
        headers={"Retry-After": str(exc.retry_after)},
    )


def _charge_and_send(app: App, *, slug: str, key: str, ref: runtime.IntegrationRef,
                     prepared: _Prepared, checked: egress.CheckedURL,
                     policy: egress.EgressPolicy, body: dict[str, Any], request_id: str,
                     record: _Record) -> ProxyResult:
    amount = int(settings.CREDITS_PER_PROXIED_CALL)
    reference = WorkspaceIntegration(pk=ref.id, public_id=ref.public_id)
    if amount > 0:
        try:
            credits.charge(app.workspace, amount, app=app,
                           reason=_clip(f"Integration call {slug} {key}", 200),
                           idempotency_key=f"proxy:{request_id}", reference=reference)
        except credits.InsufficientCredits as exc:
            raise credits_refusal(exc) from None
        record.credits = amount
    _touch(app.workspace_id, ref)
    runtime.release_db_connection()  # the charge is committed; no connection held while waiting

    pinned = list(checked.addresses)
    try:
        response = egress.request(
            prepared.method, prepared.url, headers=prepared.headers, body=prepared.body,
            policy=policy, resolver=lambda host, port: pinned, max_redirects=0)
    except egress.EgressError as exc:
        record.phase = exc.phase
        record.status_code = exc.status
        if exc.phase == egress.PHASE_NOT_SENT and record.credits:
            credits.refund(app.workspace, record.credits,
                           reason=_clip(f"Refund: integration call {slug} {key} was not sent",
                                        200),
                           idempotency_key=f"proxy:{request_id}:refund", reference=reference)
            record.credits = 0
        raise _egress_failure(exc, policy)
    record.phase = CallLog.Phase.RESPONDED
    record.status_code = response.status
    record.response_bytes = len(response.body)
    return ProxyResult(200, envelope(response, prepared.method,
                                     include_headers=body.get("include_headers") is True))


def _headers_unavailable() -> type[Exception]:
    from ..services import HeadersUnavailable

    return HeadersUnavailable


# --------------------------------------------------------------------------- bookkeeping


def _touch(workspace_id: int, ref: runtime.IntegrationRef) -> None:
    """last_used_at, written at most about once a minute per integration."""
    now = timezone.now()
    if ref.last_used_at is None or now - ref.last_used_at > LAST_USED_RESOLUTION:
        WorkspaceIntegration.objects.filter(pk=ref.id).update(last_used_at=now)
        runtime.note_used(workspace_id, ref, now)


def _write_log(app: App, *, caller_kind: str, caller_name: str, slug: str, request_id: str,
               record: _Record, response_status: int, latency_ms: int) -> None:
    calllog.write(CallLog(
        request_id=request_id,
        workspace_id=app.workspace_id,
        app=app,
        integration_id=record.integration_id,
        integration_slug=_clip(slug.strip(), 60),
        operation=record.operation,
        caller_kind=caller_kind,
        caller_name=_clip(caller_name, 150),
        phase=record.phase,
        status_code=record.status_code,
        response_status=response_status,
        error_code=record.error_code,
        latency_ms=latency_ms,
        request_bytes=record.request_bytes,
        response_bytes=record.response_bytes,
        credits=record.credits,
    ))
    level = logging.DEBUG if response_status < 400 else (
        logging.WARNING if response_status >= 500 else logging.INFO)
    if log.isEnabledFor(level):
        log.log(level, "proxy %s app=%s integration=%s op=%s -> %s upstream=%s phase=%s "
                       "credits=%s %sms", request_id, app.public_id, slug, record.operation,
                response_status, record.status_code, record.phase, record.credits, latency_ms)

__all__ = [
    "APP_FORBIDDEN_HEADERS", "DEFAULT_ACCEPT", "HIDDEN_RESPONSE_HEADERS", "MAX_MESSAGE",
    "MAX_PAYLOAD_ERRORS", "REQUEST_ID_HEADER", "ProxyError", "ProxyResult", "bulkhead_refusal",
    "credits_refusal", "decode_body", "envelope", "handle", "match_operation", "new_request_id",
    "prepare", "proxy_policy", "rate_limit_refusal", "response_headers",
]

forward_names(__name__, (base, request, answer))
