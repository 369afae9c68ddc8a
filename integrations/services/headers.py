"""Headers of an integration: which are sensitive (their values live in the vault and go only
to the origin they were entered for), what the proxy sends (``integration_headers``), and the
header plan a create/edit writes (validated rows, vault writes, the audit summary)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import idna

from workspaces.models import Workspace

from .. import egress
from ..models import IntegrationHeader, WorkspaceIntegration
from .base import CHANGED, HeadersUnavailable, IntegrationError, _decryption_failed, _vault

#: Header names that are always sensitive (compared lower-case, "_" read as "-"). The
#: product's list plus common vendor forms (Cloudflare's X-Auth-Key, Azure API Management's
#: Ocp-Apim-Subscription-Key, cookies).
SENSITIVE_HEADER_NAMES = frozenset(
    {"authorization", "x-api-key", "api-key", "x-auth-token", "x-access-token", "x-secret-key",
     "x-auth-key", "ocp-apim-subscription-key", "cookie", "set-cookie"}
)
#: A header whose name contains any of these is sensitive too. The product's list (bearer,
#: secret, password, credential, token) plus a few spellings of the same idea and the vendor
#: forms *-api-key, *-subscription-key, *-signature, *-auth-key, *-access-key, *-private-key.
#: Any other header can be marked sensitive by hand (``HeaderInput.sensitive``).
SENSITIVE_HEADER_PARTS = (
    "bearer", "secret", "password", "passwd", "credential", "token",
    "authorization", "apikey", "api-key", "cookie", "subscription-key", "signature",
    "auth-key", "access-key", "private-key",
)
#: Headers an integration may not set: the transport computes them, or they are hop-by-hop.
FORBIDDEN_HEADER_NAMES = egress.MANAGED_REQUEST_HEADERS


MAX_HEADERS = 20
MAX_HEADER_VALUE = 8192


HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,200}$")


def is_sensitive_header(name: str) -> bool:
    """True for headers whose value must live in the vault and never reach a browser."""
    lowered = name.strip().lower().replace("_", "-")
    if lowered in SENSITIVE_HEADER_NAMES:
        return True
    return any(part in lowered for part in SENSITIVE_HEADER_PARTS)


def base_url_origin(url: str) -> str:
    """The origin of a base URL as ``scheme://host:port``: scheme and host in lower case, the
    host as its IDNA A-label, the default port written out. https://api.x.com and
    https://API.x.com:443/v2 have the same origin. (A frozen copy lives in migration 0003.)"""
    parts = urlsplit((url or "").strip())
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = egress.DEFAULT_PORTS.get(scheme, 0)
    if host and not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            pass
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def _server_label(origin: str, previous: str) -> str:
    """How a message names the server of ``origin``: host[:port], with the scheme when only
    the scheme differs from ``previous``."""
    scheme, _, rest = origin.partition("://")
    host, _, port = rest.rpartition(":")
    label = host if egress.DEFAULT_PORTS.get(scheme) == int(port or 0) else rest
    if previous.partition("://")[2] == rest:
        return f"{scheme}://{label}"
    return label


class OriginMoved(IntegrationError):
    """The base URL moves to another origin while sensitive values entered for the old one
    would be kept; ``headers`` names them (for the form: ask for exactly those again)."""

    def __init__(self, new_url: str, old_url: str, headers: Sequence[str]) -> None:
        server = _server_label(base_url_origin(new_url), base_url_origin(old_url))
        super().__init__(
            f"The base URL moves to a different server ({server}). Enter the sensitive header "
            f"values again ({', '.join(headers)}) so they are not sent to a server they were "
            "not entered for.", "credentials_for_another_origin", "base_url")
        self.headers = list(headers)


def _bound_elsewhere(integration: WorkspaceIntegration, header: IntegrationHeader) -> bool:
    """A sensitive value entered for another origin than the integration's base URL now has
    (rows written before origins were recorded have none: they are bound by migration)."""
    return bool(header.sensitive and header.origin
                and header.origin != base_url_origin(integration.base_url))


def _load_secret(workspace: Workspace, header: IntegrationHeader) -> str:
    try:
        value = _vault().resolve_value(workspace, header.secret_name)
    except _decryption_failed():
        raise HeadersUnavailable(
            f"The value of the sensitive header “{header.name}” can't be decrypted with the "
            "server's encryption keys.", header.name) from None
    if value is None:
        raise HeadersUnavailable(
            f"The value of the sensitive header “{header.name}” is missing from the vault.",
            header.name)
    return value


def integration_headers(integration: WorkspaceIntegration) -> dict[str, str]:
    """The headers to send with every call, sensitive values resolved from the vault.

    Raises ``HeadersUnavailable`` if any sensitive value can't be loaded: all or nothing."""
    out: dict[str, str] = {}
    for header in integration.headers.all():
        if _bound_elsewhere(integration, header):
            raise HeadersUnavailable(
                f"The value of the sensitive header “{header.name}” was entered for another "
                "server than the base URL's; enter it again.", header.name)
        out[header.name] = (_load_secret(integration.workspace, header) if header.sensitive
                            else header.value)
    return out


def unloadable_headers(integration: WorkspaceIntegration) -> list[str]:
    """Names of the sensitive headers whose value can't be loaded now (for the edit page)."""
    broken = []
    for header in integration.headers.all():
        if _bound_elsewhere(integration, header):
            broken.append(header.name)
        elif header.sensitive:
            try:
                _load_secret(integration.workspace, header)
            except HeadersUnavailable:
                broken.append(header.name)
    return broken


@dataclass(frozen=True)
class HeaderInput:
    """One header row of a create/edit. ``value=None`` keeps the stored value of the existing
    header with that name (how a sensitive header is kept without its value being sent).
    ``sensitive=True`` marks any header sensitive; names ``is_sensitive_header`` knows, and a
    kept sensitive header, are sensitive whatever it says."""

    name: str
    value: str | None = None
    sensitive: bool = False


def blocked_message(header: str) -> str:
    return (f"Saving is blocked: the value of the sensitive header “{header}” can't be loaded "
            "(it can't be decrypted with the server's encryption keys), so saving could lose "
            "it. Restore the encryption key it was written with, or delete or replace that "
            "header explicitly.")


@dataclass
class _HeaderPlan:
    name: str
    sensitive: bool
    value: str | None  # None: keep the existing one
    existing: IntegrationHeader | None


def _clean_headers(rows: Sequence[HeaderInput],
                   existing: dict[str, IntegrationHeader]) -> list[_HeaderPlan]:
    if len(rows) > MAX_HEADERS:
        raise IntegrationError(f"Up to {MAX_HEADERS} headers.", "too_many_headers", "headers")
    seen: set[str] = set()
    plan: list[_HeaderPlan] = []
    for row in rows:
        name = (row.name or "").strip()
        if not name:
            raise IntegrationError("Every header needs a name.", "invalid_header", "headers")
        if not HEADER_NAME_RE.match(name):
            raise IntegrationError(f"“{name[:60]}” is not a valid header name (letters, digits "
                                   "and - only).", "invalid_header", "headers")
        lowered = name.lower()
        if lowered in FORBIDDEN_HEADER_NAMES:
            raise IntegrationError(f"The header {name} is set by Switchboard itself.",
                                   "invalid_header", "headers")
        if lowered in seen:
            raise IntegrationError(f"The header {name} is listed twice.", "duplicate_header",
                                   "headers")
        seen.add(lowered)
        current = existing.get(lowered)
        value = row.value
        sensitive = (is_sensitive_header(name) or bool(row.sensitive)
                     or (value is None and current is not None and current.sensitive))
        if value is None:
            if current is None:
                raise IntegrationError(f"Enter a value for the header {name}.", "invalid_header",
                                       "headers")
            if current.sensitive != sensitive:  # the rules changed since it was stored
                raise IntegrationError(f"Enter the value of the header {name} again.",
                                       "invalid_header", "headers")
        else:
            if value == "":
                raise IntegrationError(f"Enter a value for the header {name}.", "invalid_header",
                                       "headers")
            if len(value) > MAX_HEADER_VALUE:
                raise IntegrationError(f"The value of {name} is too long (up to "
                                       f"{MAX_HEADER_VALUE} characters).", "invalid_header",
                                       "headers")
            try:
                egress.validate_header(name, value)
            except egress.EgressError as exc:
                raise IntegrationError(f"Header {name}: {exc.reason}.", "invalid_header",
                                       "headers")
            if current is not None and not sensitive and current.value == value \
                    and not current.sensitive:
                value = None  # unchanged plain value
        plan.append(_HeaderPlan(name, sensitive, value, current))
    return plan


def _secret_name(integration: WorkspaceIntegration, n: int) -> str:
    return f"__integration_{integration.public_id}_h{n}"


def _next_secret_number(integration: WorkspaceIntegration) -> int:
    numbers = [0]
    prefix = _secret_name(integration, 0)[:-1]
    for name in IntegrationHeader.objects.filter(integration=integration).exclude(
            secret_name="").values_list("secret_name", flat=True):
        tail = name[len(prefix):] if name.startswith(prefix) else ""
        if tail.isdigit():
            numbers.append(int(tail))
    return max(numbers) + 1


def _write_headers(integration: WorkspaceIntegration, plan: list[_HeaderPlan], *,
                   actor: Any) -> dict[str, str]:
    """Apply a header plan; returns the audit summary {name: added|removed|changed}."""
    vault = _vault()
    workspace = integration.workspace
    changes: dict[str, str] = {}
    keep_pks = {p.existing.pk for p in plan if p.existing is not None}
    for header in IntegrationHeader.objects.filter(integration=integration).exclude(
            pk__in=keep_pks):
        if header.secret_name:
            vault.delete_secret_named(workspace, header.secret_name, actor=actor, audited=False)
        header.delete()
        changes[header.name] = "removed"
    counter = _next_secret_number(integration)
    for position, item in enumerate(plan):
        header = item.existing
        if header is None:
            header = IntegrationHeader(integration=integration, name=item.name)
            changes[item.name] = "added"
        elif item.value is not None:
            changes[item.name] = CHANGED
        if item.value is not None:
            if item.sensitive:
                if not header.secret_name:
                    header.secret_name = _secret_name(integration, counter)
                    counter += 1
                vault.set_secret(workspace, header.secret_name, item.value, actor=actor,
                                 kind="system", audited=False,
                                 description=f"Header {item.name} of integration "
                                             f"{integration.slug}")
                header.value = ""
                header.origin = base_url_origin(integration.base_url)
            else:
                if header.secret_name:
                    vault.delete_secret_named(workspace, header.secret_name, actor=actor,
                                              audited=False)
                    header.secret_name = ""
                header.value = item.value
                header.origin = ""
        header.name = item.name
        header.sensitive = item.sensitive
        header.position = position
        header.save()
    return changes


def _existing_headers(integration: WorkspaceIntegration | None) -> dict[str, IntegrationHeader]:
    if integration is None:
        return {}
    return {h.name.lower(): h for h in IntegrationHeader.objects.filter(integration=integration)}


def _check_origin_move(integration: WorkspaceIntegration, old_base_url: str,
                       plan: list[_HeaderPlan] | None) -> None:
    """A stored sensitive value goes only to the origin it was entered for: when the base URL
    moves to another origin, every sensitive header kept must get its value again in the same
    save (or be deleted)."""
    if base_url_origin(integration.base_url) == base_url_origin(old_base_url):
        return
    if plan is None:
        carried = [h.name for h in IntegrationHeader.objects.filter(integration=integration,
                                                                    sensitive=True)]
    else:
        carried = [p.name for p in plan if p.existing is not None and p.existing.sensitive
                   and p.value is None]
    if carried:
        raise OriginMoved(integration.base_url, old_base_url, carried)


def _check_kept_headers_load(integration: WorkspaceIntegration,
                             plan: list[_HeaderPlan] | None) -> None:
    """Blocked save: a sensitive header that would be kept must still be loadable."""
    if plan is None:
        kept = [h for h in IntegrationHeader.objects.filter(integration=integration)
                if h.sensitive]
    else:
        kept = [p.existing for p in plan
                if p.existing is not None and p.existing.sensitive and p.value is None]
    for header in kept:
        if _bound_elsewhere(integration, header):
            raise HeadersUnavailable(
                f"Saving is blocked: the value of the sensitive header “{header.name}” was "
                "entered for another server than this base URL's. Enter it again (or delete "
                "the header).", header.name)
        try:
            _load_secret(integration.workspace, header)
        except HeadersUnavailable as exc:
            raise HeadersUnavailable(blocked_message(header.name), exc.header) from None
