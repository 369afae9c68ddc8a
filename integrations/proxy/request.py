"""From the SDK's call to the upstream request: the operation matched, the parameters checked
against the stored operation's schemas, the URL, headers and body built (400 on any problem)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .. import egress, runtime
from .base import (
    _BODYLESS,
    APP_FORBIDDEN_HEADERS,
    DEFAULT_ACCEPT,
    MAX_MESSAGE,
    MAX_PAYLOAD_ERRORS,
    ProxyError,
    _clip,
    _Prepared,
    _scalar_text,
)

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
    from ..services import is_sensitive_header

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
