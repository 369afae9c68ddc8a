"""The constants of the egress client (phases, ports, hop-by-hop headers) and its errors: every
error is an ``EgressError`` whose ``phase`` says whether the upstream may have seen the
request."""

from __future__ import annotations

from collections.abc import Callable, Iterable

PHASE_NOT_SENT = "not_sent"
PHASE_RESPONDED = "responded"
PHASE_TIMED_OUT = "timed_out"
PHASE_SENT_UNCONFIRMED = "sent_unconfirmed"

DEFAULT_ALLOWED_PORTS: tuple[int, ...] = (80, 443, 8000, 8080, 8443)
DEFAULT_PORTS = {"http": 80, "https": 443}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
HOP_BY_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
#: Request headers we always compute ourselves; a caller's copy is dropped (and integrations
#: and apps may not set them).
MANAGED_REQUEST_HEADERS = HOP_BY_HOP_HEADERS | {"host", "content-length"}
_USER_AGENT = "Switchboard-Egress/1.0"
_MAX_URL_LENGTH = 8192
_CHUNK = 64 * 1024

Resolver = Callable[[str, int], Iterable[str]]


class EgressError(Exception):
    """Base class. ``reason`` is safe to show to users: it never contains header values."""

    default_phase = PHASE_NOT_SENT

    def __init__(self, reason: str, *, phase: str | None = None, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.phase = phase or self.default_phase
        self.status = status  # upstream status when one was received (EgressTooLarge, ...)

    @property
    def may_have_been_sent(self) -> bool:
        return self.phase != PHASE_NOT_SENT


class EgressBlocked(EgressError):
    """Refused by policy before anything was sent (to this hop)."""


class EgressInvalidInput(EgressBlocked):
    """A path parameter, header or method that may not be forwarded."""


class EgressTooManyRedirects(EgressBlocked):
    """More redirects than ``max_redirects``; the earlier hops were sent."""

    default_phase = PHASE_SENT_UNCONFIRMED


class EgressConnectError(EgressError):
    """Could not resolve, connect or complete the TLS handshake: nothing was sent."""


class EgressTimeout(EgressError):
    """Connect timeout (``not_sent``), or read timeout / deadline (``timed_out``)."""

    default_phase = PHASE_TIMED_OUT


class EgressTooLarge(EgressError):
    """The response body exceeded the size cap (the upstream did answer)."""

    default_phase = PHASE_RESPONDED


class EgressProtocolError(EgressError):
    """Garbage answer or a failure in flight: the request may have run upstream."""

    default_phase = PHASE_SENT_UNCONFIRMED
