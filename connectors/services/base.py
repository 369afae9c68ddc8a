"""What every part of the connector services shares: the refusal (``ConnectorError``, with
its HTTP status and the SDK's connector error header), the log and the settings read at call
time."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings

from workspaces.services import ServiceError

log = logging.getLogger("connectors.services")  # the name it had as one module

CONNECTOR_ERROR_HEADER = "X-Base44-Connector-Error"


class ConnectorError(ServiceError):
    """A refusal with an HTTP status for the SDK API (``code`` also goes into the
    ``X-Base44-Connector-Error`` header for connector-specific conditions)."""

    def __init__(self, message: str, code: str = "invalid", status: int = 400, *,
                 field: str | None = None) -> None:
        super().__init__(message, code, field)
        self.status = status

    @property
    def headers(self) -> dict[str, str]:
        """The response headers of this refusal (the SDK reads the connector error header)."""
        if self.code.startswith(("connector_", "metered_")):
            return {CONNECTOR_ERROR_HEADER: self.code}
        return {}


def refresh_margin() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "CONNECTOR_REFRESH_MARGIN_SECONDS", 300)))


def state_ttl() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "CONNECTOR_STATE_TTL_SECONDS", 600)))


def max_refresh_failures() -> int:
    return int(getattr(settings, "CONNECTOR_MAX_REFRESH_FAILURES", 3))
