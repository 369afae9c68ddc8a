"""What every part of the integration services shares: the errors, the plan feature, the
settings read at call time, the actor as a ``created_by`` and the vault (imported late: the
vault is the floor below, and its services import nothing of ours)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from workspaces import plans
from workspaces.models import Workspace
from workspaces.services import ServiceError

from .. import openapi

FEATURE = "workspace_integrations"


#: Text stored for a sensitive header in audit rows.
CHANGED = "changed"


class IntegrationError(ServiceError):
    """A broken rule of integrations; ``field`` (from ServiceError) names the form/serializer
    field it belongs to, if any."""


class HeadersUnavailable(IntegrationError):
    """A sensitive header's value can't be loaded from the vault (decryption failed or the
    secret is gone). The proxy must not call the upstream; an edit must not be saved."""

    def __init__(self, message: str, header: str) -> None:
        super().__init__(message, "headers_unavailable", "headers")
        self.header = header


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def validation_timeout() -> float:
    return float(_setting("INTEGRATIONS_VALIDATION_TIMEOUT", 60.0))


def bundle_max_files() -> int:
    # The DigitalOcean spec is split over 2,850 files.
    return int(_setting("INTEGRATIONS_BUNDLE_MAX_FILES", 3000))


def bundle_deadline() -> float:
    return float(_setting("INTEGRATIONS_BUNDLE_DEADLINE", 240.0))


def max_operations(workspace: Workspace) -> int:
    return min(openapi.MAX_SELECTED_OPERATIONS,
               plans.limits(workspace).max_operations_per_integration)


def _vault() -> Any:
    from secrets_vault import services as vault

    return vault


def _decryption_failed() -> type[Exception]:
    from secrets_vault.crypto import DecryptionFailed

    return DecryptionFailed


def _spec_error(exc: openapi.SpecError, field_name: str | None = None) -> IntegrationError:
    return IntegrationError(exc.message, exc.code, field_name)


def _user(actor: Any) -> Any:
    """The actor as a ``created_by`` value: the user, or None for a task or an anonymous one."""
    return actor if getattr(actor, "is_authenticated", False) else None


def _check_plan(workspace: Workspace) -> None:
    plans.require(workspace, FEATURE)
