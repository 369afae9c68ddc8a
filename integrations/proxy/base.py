"""The proxy's shared pieces: the error and result types, the prepared request, limits."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import egress

REQUEST_ID_HEADER = "X-Request-Id"
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


def new_request_id() -> str:
    return "req_" + secrets.token_hex(12)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return json.dumps(value) if math.isfinite(value) else str(value)
    return str(value)
