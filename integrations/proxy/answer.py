"""From the upstream's answer to the SDK's envelope, and egress failures to the SDK's errors."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from .. import egress
from .base import _TEXT_TYPES, HIDDEN_RESPONSE_HEADERS, ProxyError


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
