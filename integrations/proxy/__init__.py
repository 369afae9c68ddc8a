"""The integration proxy: one ``integrations.custom.call`` from the SDK request to the envelope.

Order of the checks (cheapest and least revealing first), each refusal answered before
anything is sent and without a charge:

1. per-app rate limit (429 + ``Retry-After``);
2. the integration, by slug, in the app's workspace (404), then its cached config;
3. the operation among the selected ones (404), ``method:path`` per sdk-protocol §5;
4. the parameters against the stored operation's schemas, path-parameter safety, the app's
   extra headers (400 with field errors);
5. the URL through the SSRF guard, resolved once (502 ``egress_blocked`` / unresolvable);
6. the bulkheads: calls in flight for the app and for the integration
   (``integrations.bulkhead``; 429 ``concurrency_limited`` + ``Retry-After``);
7. one credit reserved through the ledger (402 when the workspace has none left), committed
   before anything is sent; then the database connection goes back to the pool;
8. the upstream call through ``egress`` (no redirects followed). If it turns out nothing was
   sent (``phase == not_sent``: connection refused, connect timeout), the credit is refunded,
   so exactly the calls that reached the upstream are billed, even under concurrency.

Any upstream HTTP answer becomes a 200 envelope ``{success, status_code, data}``; binary
bodies come back as ``data: null`` + ``data_base64`` + ``content_type``. Every call that got
past authentication writes one ``CallLog`` row (never header values or bodies) through
``integrations.calllog``, after the response.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.utils import timezone

from workspaces import credits
from workspaces.models import App

from . import bulkhead, calllog, egress, ratelimit, runtime
from .models import CallLog, WorkspaceIntegration

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
LAST_USED_RESOLUTION = timedelta(seconds=60)
#: Request headers an app may never add (the transport computes them, or hop-by-hop).
APP_FORBIDDEN_HEADERS = egress.MANAGED_REQUEST_HEADERS
#: Response headers never shown to apps (``include_headers``): hop-by-hop (see
#: ``egress.strip_hop_by_hop``), framing of *our* response, and cookies of the shared account.
HIDDEN_RESPONSE_HEADERS = frozenset({"content-length", "content-encoding", "set-cookie",
                                     "set-cookie2"})
DEFAULT_ACCEPT = "application/json, */*;q=0.8"
MAX_PAYLOAD_ERRORS = 20
MAX_MESSAGE = 300
_BODYLESS = frozenset({"GET", "HEAD"})
_TEXT_TYPES = frozenset({
    "application/xml", "application/javascript", "application/ecmascript",
    "application/x-www-form-urlencoded", "application/yaml", "application/x-yaml",
    "application/graphql", "application/x-ndjson", "application/csv", "application/rtf",
    "application/sql", "image/svg+xml",
})
_CREDITS_402_MESSAGE = "You have reached the limit of integrations for this month"


class ProxyError(Exception):
    """A refusal or failure answered as ``{"detail", "code", ...}`` with ``status``."""

    def __init__(self, status: int, detail: str, code: str, *, phase: str | None = None,
                 extra: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code
        self.phase = phase
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"detail": self.detail, "code": self.code}
        if self.phase is not None:
            out["phase"] = self.phase
        out.update(self.extra)
        return out


@dataclass
class ProxyResult:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Prepared:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None


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


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


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
           body: Any, request_id: str) -> ProxyResult:
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
        _write_log(app, caller_kind=caller_kind, slug=slug, request_id=request_id,
                   record=record, response_status=status, latency_ms=latency_ms)
    result.headers[REQUEST_ID_HEADER] = request_id
    return result


def _call(app: App, *, slug: str, operation: str, query_string: str, body: Any,
          request_id: str, record: _Record) -> ProxyResult:
    decision = ratelimit.hit(app.public_id)
    if not decision.allowed:
        raise ProxyError(
            429,
            f"Rate limit exceeded for this app: {decision.limit} integration calls per minute. "
            f"Retry after {decision.retry_after} seconds.",
            "rate_limited",
            extra={"retry_after": decision.retry_after},
            headers={"Retry-After": str(decision.retry_after)},
        )
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

    try:
        lease = bulkhead.acquire(app.public_id, f"custom:{ref.id}")
    except bulkhead.Full as exc:
        raise bulkhead_refusal(exc) from None
    try:
        return _charge_and_send(app, slug=slug, key=key, ref=ref, prepared=prepared,
                                checked=checked, policy=policy, body=body,
                                request_id=request_id, record=record)
    finally:
        bulkhead.release(lease)


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
            credits.charge(app.workspace, amount,
                           reason=_clip(f"Integration call {slug} {key}", 200),
                           idempotency_key=f"proxy:{request_id}", reference=reference)
        except credits.InsufficientCredits:
            raise ProxyError(402, _CREDITS_402_MESSAGE, "integration_credits_limit_reached",
                             extra={"message": _CREDITS_402_MESSAGE,
                                    "extra_data": {"reason": "integration_credits_limit_reached"}})
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
    from .services import HeadersUnavailable

    return HeadersUnavailable


# --------------------------------------------------------------------------- matching


def match_operation(config: runtime.IntegrationConfig, requested: str) -> str | None:
    """The selected operation key for ``method:path`` (sdk-protocol §5), or None.

    Split on the first ':'; the method is compared case-insensitively and the path exactly.
    A legacy bare operationId (no ':') matches a selected operation with that operationId.
    """
    text = requested.strip()
    method, sep, path = text.partition(":")
    if sep:
        key = f"{method.strip().lower()}:{path}"
        if key in config.selected:
            return key
    return config.operation_ids.get(text)


# --------------------------------------------------------------------------- request building


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return json.dumps(value) if math.isfinite(value) else str(value)
    return str(value)


def _coerce(value: Any, kind: str | None) -> Any:
    """Read a string as the parameter's declared scalar type (URL parameters are text); a
    number given for a string parameter becomes its text. Anything else is left for the
    validator to judge."""
    if isinstance(value, str):
        text = value.strip()
        if kind == "integer":
            try:
                return int(text, 10)
            except ValueError:
                return value
        if kind == "number":
            try:
                number = float(text)
            except ValueError:
                return value
            return int(number) if number.is_integer() and "." not in text else number
        if kind == "boolean" and text in ("true", "false"):
            return text == "true"
        return value
    if kind == "string" and isinstance(value, int | float) and not isinstance(value, bool):
        return _scalar_text(value)
    return value


def _schema_errors(validator: Any, value: Any) -> list[str]:
    if validator is None:
        return []
    out = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path)):
        where = error.json_path if error.absolute_path else ""
        text = f"{where[2:]}: {error.message}" if where.startswith("$.") else error.message
        out.append(_clip(text, MAX_MESSAGE))
        if len(out) >= MAX_PAYLOAD_ERRORS:
            break
    return out


class _Errors:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def add(self, group: str, name: str | None, message: str) -> None:
        if name is None:
            self.data.setdefault(group, []).append(message)
        else:
            self.data.setdefault(group, {}).setdefault(name, []).append(message)

    def raise_if_any(self) -> None:
        if not self.data:
            return
        parts = []
        for group, value in self.data.items():
            if isinstance(value, dict):
                parts += [f"{group}.{name}: {msg}" for name, msgs in value.items() for msg in msgs]
            else:
                parts += [f"{group}: {msg}" for msg in value]
        raise ProxyError(400, "Invalid parameters: " + "; ".join(parts[:10]), "invalid_params",
                         extra={"errors": self.data})


def _mapping(body: Mapping[str, Any], key: str, errors: _Errors) -> dict[str, Any] | None:
    """The object under ``key`` ({} when absent); None (and an error) when it isn't one."""
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add(key, None, "must be an object")
        return None
    return value


def _path_values(plan: runtime.OperationPlan, given: dict[str, Any],
                 errors: _Errors) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in plan.template_vars:
        rule = plan.path_params[name]
        value = given.get(name)
        if value is None:
            errors.add("path_params", name, "is required")
            continue
        if isinstance(value, dict | list):
            errors.add("path_params", name, "must be a string, number or boolean")
            continue
        problems = _schema_errors(rule.validator, _coerce(value, rule.coerce_to))
        for message in problems:
            errors.add("path_params", name, message)
        if problems:
            continue
        try:  # the caller's own text is sent (a string read as a number is not rewritten)
            out[name] = egress.validate_path_param(_scalar_text(value))
        except egress.EgressInvalidInput as exc:
            errors.add("path_params", name, exc.reason)
    return out


def _query_pairs(plan: runtime.OperationPlan, given: dict[str, Any],
                 errors: _Errors) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, rule in plan.query_params.items():
        if rule.required and given.get(name) is None:
            errors.add("query_params", name, "is required")
    for name, value in given.items():
        if value is None:
            continue
        rule = plan.query_params.get(name)
        if isinstance(value, dict):
            errors.add("query_params", name, "objects are not supported in query parameters "
                                             "(use a string, number, boolean or an array)")
            continue
        if rule is not None and rule.coerce_to == "array" and not isinstance(value, list):
            value = [value]
        if isinstance(value, list):
            if any(isinstance(item, dict | list) for item in value):
                errors.add("query_params", name, "array items must be strings, numbers or "
                                                 "booleans")
                continue
            value = [item for item in value if item is not None]
            item_type = rule.item_type if rule is not None else None
            checked: Any = [_coerce(item, item_type) for item in value]
        else:
            checked = _coerce(value, rule.coerce_to) if rule is not None else value
        problems = _schema_errors(rule.validator if rule is not None else None, checked)
        for message in problems:
            errors.add("query_params", name, message)
        if problems:
            continue
        for item in value if isinstance(value, list) else [value]:
            pairs.append((name, _scalar_text(item)))
    return pairs


def _app_headers(config: runtime.IntegrationConfig, given: dict[str, Any],
                 errors: _Errors) -> dict[str, str]:
    """The app's extra headers that may be added. The integration's own headers always win
    (an app's copy is dropped); forbidden or sensitive names are refused."""
    from .services import is_sensitive_header

    out: dict[str, str] = {}
    for name, value in given.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = _scalar_text(value)
        if not isinstance(value, str):
            errors.add("headers", _clip(str(name), 100), "must be a string")
            continue
        try:
            egress.validate_header(name, value)
        except egress.EgressInvalidInput as exc:
            errors.add("headers", _clip(name, 100), exc.reason)
            continue
        lowered = name.lower()
        if lowered in config.header_names:
            continue  # the integration's header wins
        if lowered in APP_FORBIDDEN_HEADERS:
            errors.add("headers", name, "is set by the proxy and can't be sent by apps")
        elif lowered in config.sensitive_names or is_sensitive_header(name):
            errors.add("headers", name, "is a sensitive header: credentials belong in the "
                                        "integration's configuration, not in the app")
        else:
            out[name] = value
    return out


def _form_pairs(value: Any, prefix: str, out: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _form_pairs(item, f"{prefix}[{key}]" if prefix else str(key), out)
    elif isinstance(value, list):
        for item in value:
            _form_pairs(item, prefix if not isinstance(item, dict | list) else f"{prefix}[]",
                        out)
    elif value is not None:
        out.append((prefix, _scalar_text(value)))


def _encode_pairs(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)


def _body_bytes(plan: runtime.OperationPlan, payload: Any,
                errors: _Errors) -> tuple[bytes | None, str | None]:
    media = (plan.body.content_type if plan.body is not None else None) or "application/json"
    base = media.split(";")[0].strip().lower()
    if base == "application/x-www-form-urlencoded":
        if not isinstance(payload, dict):
            errors.add("payload", None, "must be an object for a form-encoded request body")
            return None, None
        pairs: list[tuple[str, str]] = []
        _form_pairs(payload, "", pairs)
        return _encode_pairs(pairs).encode("ascii"), "application/x-www-form-urlencoded"
    if base.startswith("text/") and isinstance(payload, str):
        return payload.encode("utf-8"), f"{base}; charset=utf-8"
    if base == "application/json" or base.endswith("+json") or base.endswith("/json") \
            or plan.body is None:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return data.encode("utf-8"), media if base != "application/json" else "application/json"
    errors.add("payload", None, f"this operation takes a {base} request body, which the "
                                "proxy can't send (JSON, form and text bodies only)")
    return None, None


def prepare(config: runtime.IntegrationConfig, plan: runtime.OperationPlan,
            body: Mapping[str, Any]) -> _Prepared:
    """Validate the call's parameters and build the upstream request; 400 on any problem."""
    errors = _Errors()
    given_path = _mapping(body, "path_params", errors)
    path_values = _path_values(plan, given_path, errors) if given_path is not None else {}
    given_query = _mapping(body, "query_params", errors)
    pairs = _query_pairs(plan, given_query, errors) if given_query is not None else []
    given_headers = _mapping(body, "headers", errors)
    extra_headers = _app_headers(config, given_headers, errors) if given_headers else {}

    payload = body.get("payload")
    data: bytes | None = None
    content_type: str | None = None
    if payload is None:
        if plan.body is not None and plan.body.required and plan.method not in _BODYLESS:
            errors.add("payload", None, "is required")
    elif plan.method not in _BODYLESS:
        if plan.body is not None:
            for message in _schema_errors(plan.body.validator, payload):
                errors.add("payload", None, message)
        if "payload" not in errors.data:
            try:
                data, content_type = _body_bytes(plan, payload, errors)
            except ValueError:  # NaN / Infinity cannot be sent as JSON
                errors.add("payload", None, "contains a number JSON can't represent")
    errors.raise_if_any()

    path = "".join(text if name is None else path_values[name] for text, name in plan.segments)
    query = "&".join(q for q in (config.base_query, _encode_pairs(pairs)) if q)
    url = config.base_url + path + (f"?{query}" if query else "")

    headers: dict[str, str] = dict(extra_headers)
    lowered = {name.lower() for name in headers}
    if "accept" not in config.header_names and "accept" not in lowered:
        headers["Accept"] = DEFAULT_ACCEPT
    if data is not None and content_type is not None:
        for name in [n for n in headers if n.lower() == "content-type"]:
            del headers[name]  # the proxy encoded the body: its type wins over the app's
        if "content-type" not in config.header_names:
            headers["Content-Type"] = content_type
    headers.update(config.headers)  # the integration's headers always win
    return _Prepared(plan.method, url, headers, data)


# --------------------------------------------------------------------------- the answer


def _media_type(content_type: str) -> tuple[str, str | None]:
    parts = [p.strip() for p in content_type.split(";")]
    charset = None
    for part in parts[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"') or None
    return parts[0].lower(), charset


def _is_text(media: str) -> bool:
    return (media.startswith("text/") or media in _TEXT_TYPES or media.endswith("+xml")
            or media.endswith("+yaml"))


def _is_json(media: str) -> bool:
    return media == "application/json" or media.endswith("+json") or media.endswith("/json")


def decode_body(content_type: str | None, body: bytes) -> tuple[Any, str | None]:
    """(data, None) for JSON and text bodies; (None, base64) for binary ones."""
    if not body:
        return None, None
    media, charset = _media_type(content_type or "")
    if _is_json(media) or not media:
        try:
            text = body.decode(charset) if charset else body
            return json.loads(text), None
        except (ValueError, LookupError, RecursionError):
            pass  # not JSON after all (or nested past the decoder's depth): text or binary below
    if _is_json(media) or _is_text(media) or not media:
        try:
            text = body.decode(charset or "utf-8")
        except (UnicodeDecodeError, LookupError):
            text = None
        if text is not None and (media or "\x00" not in text):
            return text, None
    return None, base64.b64encode(body).decode("ascii")


def response_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in egress.strip_hop_by_hop(headers).iteritems():
        lowered = name.lower()
        if lowered in HIDDEN_RESPONSE_HEADERS:
            continue
        out[lowered] = f"{out[lowered]}, {value}" if lowered in out else value
    return out


def envelope(response: egress.EgressResponse, method: str, *,
             include_headers: bool = False) -> dict[str, Any]:
    content_type = response.headers.get("content-type")
    data, encoded = decode_body(content_type, b"" if method == "HEAD" else response.body)
    out: dict[str, Any] = {
        "success": 200 <= response.status < 300,
        "status_code": response.status,
        "data": data,
    }
    if encoded is not None:
        out["data_base64"] = encoded
        out["content_type"] = content_type or "application/octet-stream"
    if include_headers:
        out["headers"] = response_headers(response.headers)
    return out


def _plain_reason(exc: BaseException) -> str:
    """The innermost OS-level message ("Connection refused") or the egress reason."""
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.strerror:
            return str(seen.strerror)
        seen = seen.__cause__ or seen.__context__
    return getattr(exc, "reason", None) or str(exc)


def _egress_failure(exc: egress.EgressError, policy: egress.EgressPolicy) -> ProxyError:
    if isinstance(exc, egress.EgressTimeout):
        return ProxyError(504, f"The external API did not answer within {policy.deadline:g} "
                               "seconds.", "upstream_timeout", phase=exc.phase)
    if isinstance(exc, egress.EgressTooLarge):
        return ProxyError(502, f"The external API's response is larger than "
                               f"{policy.max_bytes} bytes.", "upstream_response_too_large",
                          phase=exc.phase)
    if isinstance(exc, egress.EgressBlocked):
        return ProxyError(502, f"Failed to connect to external API: {exc.reason}",
                          "egress_blocked", phase=exc.phase)
    if isinstance(exc, egress.EgressProtocolError):
        return ProxyError(502, f"Failed to connect to external API: invalid response "
                               f"({_plain_reason(exc)})", "upstream_bad_response",
                          phase=exc.phase)
    return ProxyError(502, f"Failed to connect to external API: {_plain_reason(exc)}",
                      "upstream_unreachable", phase=exc.phase)


# --------------------------------------------------------------------------- bookkeeping


def _touch(workspace_id: int, ref: runtime.IntegrationRef) -> None:
    """last_used_at, written at most about once a minute per integration."""
    now = timezone.now()
    if ref.last_used_at is None or now - ref.last_used_at > LAST_USED_RESOLUTION:
        WorkspaceIntegration.objects.filter(pk=ref.id).update(last_used_at=now)
        runtime.note_used(workspace_id, ref, now)


def _write_log(app: App, *, caller_kind: str, slug: str, request_id: str, record: _Record,
               response_status: int, latency_ms: int) -> None:
    calllog.write(CallLog(
        request_id=request_id,
        workspace_id=app.workspace_id,
        app=app,
        integration_id=record.integration_id,
        integration_slug=_clip(slug.strip(), 60),
        operation=record.operation,
        caller_kind=caller_kind,
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
