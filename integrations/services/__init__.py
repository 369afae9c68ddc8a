"""Business rules of workspace integrations: import a spec, create/edit/delete integrations,
refresh them from their URL, and the periodic spec check.

Views, API views, the admin and tasks call these; never the reverse. Every write runs in a
transaction, takes ``actor=``, records its audit row (names and "changed" only, never a header
value) and schedules Celery tasks and e-mail with ``transaction.on_commit``.

The stored copy of a spec (``SpecImport.raw_text``) is what every later step uses; the live
URL is read only by an import task (create, refresh or periodic check).

For the proxy: ``integration_headers(integration)`` (sensitive values resolved from the vault,
``HeadersUnavailable`` when one can't be decrypted) and ``is_sensitive_header(name)``.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import idna
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from workspaces import audit, plans
from workspaces.models import App, Membership, Role, Workspace
from workspaces.services import ServiceError, queue_email_text
from workspaces.validation import check_name

from .. import egress, openapi, uploads
from ..models import CallLog, IntegrationHeader, SpecImport, WorkspaceIntegration

FEATURE = "workspace_integrations"

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
MAX_NAME = 100
MAX_DESCRIPTION = 2000
SLUG_MAX = 60
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")  # 1..SLUG_MAX characters
HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,200}$")
RECENT_CALLERS_DAYS = 30
#: Text stored for a sensitive header in audit rows.
CHANGED = "changed"

FETCH_ACCEPT = ("application/json, application/yaml, application/x-yaml, text/yaml, "
                "text/plain;q=0.9, */*;q=0.5")
_HTML_START = (b"<!doctype html", b"<html", b"<head", b"<body")
STAGES = {
    "fetching": "Fetching the spec",
    "reading": "Reading the spec",
    "bundling": "Fetching the files the spec refers to",
    "validating": "Validating the spec",
    "comparing": "Comparing with the current spec",
}


class IntegrationError(ServiceError):
    """A broken rule of integrations; ``field`` (from ServiceError) names the form/serializer
    field it belongs to, if any."""


class HeadersUnavailable(IntegrationError):
    """A sensitive header's value can't be loaded from the vault (decryption failed or the
    secret is gone). The proxy must not call the upstream; an edit must not be saved."""

    def __init__(self, message: str, header: str) -> None:
        super().__init__(message, "headers_unavailable", "headers")
        self.header = header


# --- settings -----------------------------------------------------------------------------------


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


# --- headers ------------------------------------------------------------------------------------


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


def _vault() -> Any:
    from secrets_vault import services as vault

    return vault


def _decryption_failed() -> type[Exception]:
    from secrets_vault.crypto import DecryptionFailed

    return DecryptionFailed


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


# --- imports ------------------------------------------------------------------------------------


def _spec_error(exc: openapi.SpecError, field_name: str | None = None) -> IntegrationError:
    return IntegrationError(exc.message, exc.code, field_name)


def _user(actor: Any) -> Any:
    """The actor as a ``created_by`` value: the user, or None for a task or an anonymous one."""
    return actor if getattr(actor, "is_authenticated", False) else None


def _check_plan(workspace: Workspace) -> None:
    plans.require(workspace, FEATURE)


def _clean_url(url: str) -> str:
    url = (url or "").strip()
    if not url:
        raise IntegrationError("Enter the URL of the spec.", "required", "url")
    if len(url) > 2000:
        raise IntegrationError("Keep the URL under 2,000 characters.", "invalid_url", "url")
    try:
        egress.check_url_shape(url)
    except egress.EgressError as exc:
        raise IntegrationError(f"This URL can't be used: {exc.reason}.", "invalid_url", "url")
    return url


def import_mode() -> str:
    """Where import tasks run: ``worker`` (a broker is configured: the ``imports`` queue),
    ``thread`` (eager tasks under ``make run``: a thread after the response, so the page can
    show progress), or ``inline`` (eager tasks in tests: a pasted or uploaded spec is read
    during the request, as a worker would, and a refusal is answered at once).
    ``INTEGRATIONS_IMPORT_MODE`` overrides it (tests)."""
    mode = _setting("INTEGRATIONS_IMPORT_MODE", "")
    if mode:
        return str(mode)
    if not _setting("CELERY_TASK_ALWAYS_EAGER", False):
        return "worker"
    return "thread" if _setting("INTEGRATIONS_EAGER_IMPORTS_IN_THREAD", False) else "inline"


def _run_in_thread(import_id: int) -> None:
    from django.db import connection

    from ..tasks import run_spec_import

    try:
        run_spec_import.apply(args=(import_id,))
    finally:
        connection.close()  # this thread's own connection


def _schedule_import(spec_import: SpecImport) -> None:
    from ..tasks import run_spec_import  # tasks import services: import late

    pk = spec_import.pk
    if import_mode() == "thread":
        transaction.on_commit(lambda: threading.Thread(
            target=_run_in_thread, args=(pk,), daemon=True, name=f"spec-import-{pk}").start())
    else:
        transaction.on_commit(lambda: run_spec_import.delay(pk))


@transaction.atomic
def start_url_import(workspace: Workspace, *, actor: Any, url: str,
                     purpose: str = SpecImport.Purpose.CREATE,
                     integration: WorkspaceIntegration | None = None) -> SpecImport:
    """Queue a fetch of ``url`` (a Celery task does the fetch, parse and validation)."""
    if purpose != SpecImport.Purpose.CHECK:
        _check_plan(workspace)
    url = _clean_url(url)
    spec_import = SpecImport.objects.create(
        workspace=workspace, integration=integration, purpose=purpose,
        source=SpecImport.Source.URL, source_url=url, status=SpecImport.Status.PENDING,
        created_by=_user(actor))
    _schedule_import(spec_import)
    return spec_import


def _text_size(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))


@transaction.atomic
def import_pasted(workspace: Workspace, *, actor: Any, text: str | bytes) -> SpecImport:
    """Read a pasted (or uploaded) spec at once: a broken one is refused here with a clear
    message and nothing is stored. A good one is stored and validated by a Celery task."""
    _check_plan(workspace)
    if isinstance(text, bytes):
        text = decode_spec(text)
    size = _text_size(text)
    if size > openapi.MAX_SPEC_BYTES:
        raise spec_too_large(size)
    try:
        parsed = openapi.parse_spec(text)
    except openapi.SpecError as exc:
        raise _spec_error(exc, "spec") from None
    _refuse_nul(text)
    spec_import = SpecImport(
        workspace=workspace, purpose=SpecImport.Purpose.CREATE, source=SpecImport.Source.PASTE,
        raw_text=text, status=SpecImport.Status.RUNNING, stage="validating",
        created_by=_user(actor))
    _fill_from_parsed(spec_import, parsed, size, source_url=None)
    spec_import.save()
    _schedule_import(spec_import)
    return spec_import


def import_stored(workspace: Workspace, *, actor: Any, public_id: str,
                  kind: str = uploads.SPEC) -> SpecImport:
    """Import a spec body the web process streamed to the storage (``uploads``) without
    reading it: the import task reads, parses and validates it, so the web process never
    holds the parsed tree. Only in ``inline`` mode (eager tasks, tests) is it read here, with
    ``import_pasted``'s answers (a refusal raises; nothing is stored)."""
    _check_plan(workspace)
    name = uploads.name_for(public_id, kind)
    if import_mode() == "inline":
        text: str | None = None
        try:
            text = stored_text(name, kind)
            return import_pasted(workspace, actor=actor, text=text)
        except IntegrationError as exc:
            exc.spec_text = text  # type: ignore[attr-defined] # for the editor (views)
            raise
        finally:
            uploads.delete(public_id)
    with transaction.atomic():
        spec_import = SpecImport.objects.create(
            public_id=public_id, workspace=workspace, purpose=SpecImport.Purpose.CREATE,
            source=SpecImport.Source.PASTE, status=SpecImport.Status.PENDING,
            created_by=_user(actor))
        _schedule_import(spec_import)
    return spec_import


#: Keys of an admin-API import envelope (``{"url": ...}`` / ``{"spec": ...}``).
ENVELOPE_KEYS = frozenset({"url", "spec"})
#: Top-level keys that make a JSON object a (maybe unsupported) API description.
SPEC_MARKERS = frozenset({"openapi", "swagger", "swaggerVersion", "asyncapi"})


def is_import_envelope(parsed: Any) -> bool:
    return (isinstance(parsed, dict) and bool(ENVELOPE_KEYS & parsed.keys())
            and not SPEC_MARKERS & parsed.keys())


def unwrap_json_body(text: str) -> str:
    """The spec's text from an admin-API JSON body read by the worker: the envelope's
    ``spec`` (a string, or the JSON object), or the body itself when it is not an envelope."""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return text  # the spec reader says what is wrong, as for a paste
    if not is_import_envelope(body):
        return text
    if "url" in body or "spec" not in body:
        raise IntegrationError("Send either url or spec.", "invalid")
    spec = body["spec"]
    del body
    return spec if isinstance(spec, str) else json.dumps(spec, ensure_ascii=False)


def stored_text(name: str, kind: str = uploads.SPEC) -> str:
    """The text of a stored body (size-capped, decoded, an API envelope unwrapped)."""
    limit = openapi.MAX_SPEC_BYTES if kind == uploads.SPEC else MAX_JSON_BODY
    try:
        data = uploads.read_bytes(name, limit)
        if kind == uploads.SPEC:
            text = _decode_stored(data)
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntegrationError(f"The body is not UTF-8 (invalid byte at offset {exc.start}).",
                               "parse_error") from None
    except uploads.TooLarge:
        raise spec_too_large(None) from None
    except FileNotFoundError:
        raise IntegrationError("The uploaded spec is gone; send it again.", "upload_missing",
                               "spec") from None
    if kind == uploads.JSON_BODY:
        text = unwrap_json_body(text)
    return text


def _decode_stored(data: bytes) -> str:
    try:
        return decode_spec(data)
    except IntegrationError as exc:
        # A text stored with its lone surrogates (a JSON object's "\ud800", as Python holds
        # it): read it back as it was, so that the spec reader names the bad character.
        try:
            return data.decode("utf-8-sig", "surrogatepass")
        except UnicodeDecodeError:
            raise exc from None


#: A spec sent inside a JSON envelope (``{"spec": "..."}``) grows when its text is escaped.
MAX_JSON_BODY = openapi.MAX_SPEC_BYTES * 3 // 2


def text_for_editor(spec_import: SpecImport) -> str | None:
    """The text of a pasted or uploaded spec the worker refused, to put back in the editor
    (nothing typed is lost); None when there is none (or it is not text)."""
    if (spec_import.source != SpecImport.Source.PASTE
            or spec_import.status != SpecImport.Status.FAILED):
        return None
    found = uploads.find(spec_import.public_id)
    if found is None:
        return None
    try:
        data = uploads.read_bytes(found[0], MAX_JSON_BODY)
        return openapi.decode_text(data[:openapi.MAX_SPEC_BYTES])
    except (uploads.TooLarge, openapi.SpecError, FileNotFoundError):
        return None


def spec_too_large(size: int | None) -> IntegrationError:
    """The refusal of a spec over the size cap, for input layers that measure it first
    (``size`` None: only known to be over the cap)."""
    return _spec_error(openapi.too_large_error(size), "spec")


def decode_spec(data: bytes) -> str:
    """Text of an uploaded spec (UTF-8, or UTF-16 with a BOM), or a clear refusal."""
    try:
        return openapi.decode_text(data)
    except openapi.SpecError as exc:
        raise _spec_error(exc, "spec") from None


def _refuse_nul(text: str) -> None:
    # PostgreSQL can't store NUL in text or jsonb; no real spec has one. (A NUL made by an
    # escape, JSON "\u0000" or YAML "\0", is refused by the parser, where it is.)
    if "\x00" in text:
        raise IntegrationError(openapi.NUL_MESSAGE, "not_json_or_yaml", "spec")


def _operation_rows(operations: Iterable[openapi.Operation]) -> list[dict[str, Any]]:
    return [{"key": op.key, "method": op.method, "path": op.path,
             "operation_id": op.operation_id or "", "summary": op.summary or "",
             "tags": op.tags, "deprecated": op.deprecated} for op in operations]


def _fill_from_parsed(spec_import: SpecImport, parsed: openapi.ParsedSpec, size: int,
                      source_url: str | None) -> None:
    info = parsed.info
    spec_import.title = info.title[:300]
    spec_import.api_version = info.version[:100]
    spec_import.spec_version = info.spec_version[:20]
    spec_import.operations = _operation_rows(parsed.operations)
    spec_import.size_bytes = size
    try:
        base = openapi.default_base_url(parsed.doc, source_url) or ""
    except openapi.SpecError:
        base = ""
    spec_import.default_base_url = base[:2000]


def _set_stage(spec_import: SpecImport, stage: str) -> None:
    spec_import.stage = stage
    SpecImport.objects.filter(pk=spec_import.pk).update(status=SpecImport.Status.RUNNING,
                                                        stage=stage)


def _fail(spec_import: SpecImport, code: str, message: str) -> SpecImport:
    spec_import.status = SpecImport.Status.FAILED
    spec_import.error_code = code[:50]
    spec_import.error_message = message
    spec_import.stage = ""
    spec_import.finished_at = timezone.now()
    spec_import.save(update_fields=["status", "error_code", "error_message", "stage",
                                    "finished_at"])
    return spec_import


def fail_import(import_id: int, code: str, message: str) -> None:
    """Mark an unfinished import failed (the task's time limit)."""
    spec_import = SpecImport.objects.defer("raw_text").filter(pk=import_id).first()
    if spec_import is not None and spec_import.status not in (SpecImport.Status.READY,
                                                              SpecImport.Status.FAILED):
        _fail(spec_import, code, message)


def egress_failure(exc: egress.EgressError, what: str = "the spec") -> tuple[str, str]:
    """(code, message) for a fetch that failed: words a user can act on."""
    reason = exc.reason
    if isinstance(exc, egress.EgressTooManyRedirects):
        return "too_many_redirects", f"Fetching {what} was redirected more than 3 times."
    if isinstance(exc, egress.EgressBlocked):
        return "blocked", (f"Switchboard won't fetch {what} from this address ({reason}). "
                           "Spec URLs must be public internet addresses.")
    if isinstance(exc, egress.EgressTimeout):
        return "timeout", f"The server did not answer in time while sending {what}."
    if isinstance(exc, egress.EgressTooLarge):
        limit = openapi.MAX_SPEC_BYTES // 1048576
        return "too_large", f"{what.capitalize()} is too large; the limit is {limit} MiB."
    if isinstance(exc, egress.EgressConnectError):
        return "unreachable", (f"The server could not be reached ({reason}). Check the URL and "
                               "that the server is reachable from the internet.")
    return "unreachable", f"The server's answer could not be read ({reason})."


def _looks_like_html(resp: egress.EgressResponse) -> bool:
    content_type = (resp.headers.get("content-type") or "").lower()
    if "html" in content_type:
        return True
    return resp.body[:512].lstrip().lower().startswith(_HTML_START)


def _check_response(resp: egress.EgressResponse, url: str, what: str) -> None:
    status = resp.status
    if status in (401, 403, 407):
        raise openapi.SpecError(
            f"The server needs authentication to send {what} (HTTP {status}). The spec URL "
            "must be publicly readable; or download the file and paste it instead.",
            "needs_auth")
    if status == 404:
        raise openapi.SpecError(f"Nothing was found at {url} (HTTP 404).", "not_found")
    if status >= 400:
        raise openapi.SpecError(f"The server answered HTTP {status} instead of {what}.",
                                "http_error")
    if 300 <= status < 400:
        raise openapi.SpecError(f"The server answered HTTP {status} without a usable redirect.",
                                "http_error")
    if _looks_like_html(resp):
        raise openapi.SpecError(
            f"The URL returned a web page (HTML) instead of {what}. Link to the raw JSON or "
            "YAML file (on GitHub, the “Raw” button).", "html")


def fetch_spec(url: str) -> tuple[bytes, str]:
    """GET the spec through the SSRF-safe client (≤3 redirects). Returns (body, final URL)."""
    resp = egress.request("GET", url, headers={"Accept": FETCH_ACCEPT}, max_redirects=3,
                          max_bytes=openapi.MAX_SPEC_BYTES)
    _check_response(resp, url, "the spec")
    if not resp.body.strip():
        raise openapi.SpecError("The server sent an empty answer instead of the spec.", "empty")
    return resp.body, resp.url


def _bundle_fetcher(deadline: float) -> Any:
    budget = {"bytes": openapi.BUNDLE_MAX_BYTES}

    def fetch(url: str) -> bytes:
        if time.monotonic() > deadline:
            raise openapi.SpecError(
                "Fetching the files this spec refers to took too long. Bundle the spec into "
                "one file (for example with `redocly bundle`) and import that.", "timeout")
        what = f"{url} (a file the spec refers to)"
        try:
            resp = egress.request("GET", url, headers={"Accept": FETCH_ACCEPT},
                                  max_bytes=max(budget["bytes"], 1))
        except egress.EgressError as exc:
            code, message = egress_failure(exc, what)
            raise openapi.SpecError(message, code) from None
        _check_response(resp, url, what)
        budget["bytes"] -= len(resp.body)
        return resp.body

    return fetch


def parse_fetched(data: bytes, final_url: str) -> tuple[openapi.ParsedSpec, str]:
    """Parse a fetched spec, bundling files beside it (same origin, count/size/time limits).
    Returns the parsed spec and the text to store (one document, JSON when bundled)."""
    if len(data) > openapi.MAX_SPEC_BYTES:
        raise openapi.too_large_error(len(data))
    parsed = openapi.parse_spec(data, source_url=final_url,
                                fetch=_bundle_fetcher(time.monotonic() + bundle_deadline()),
                                max_files=bundle_max_files())
    if openapi.BUNDLE_KEY in parsed.doc:
        text = json.dumps(parsed.doc, ensure_ascii=False, separators=(",", ":"))
    else:
        try:
            text = decode_spec(data)
        except IntegrationError:
            text = json.dumps(parsed.doc, ensure_ascii=False, separators=(",", ":"))
    if _text_size(text) > openapi.MAX_SPEC_BYTES:
        raise openapi.too_large_error(_text_size(text))
    return parsed, text


def load_stored_doc(spec_import: SpecImport) -> dict[str, Any]:
    """The stored copy, parsed (no fetch: it is always one document)."""
    text = spec_import.raw_text
    if not text:
        text = SpecImport.objects.filter(pk=spec_import.pk).values_list("raw_text",
                                                                        flat=True).get()
    return openapi.parse_spec(text).doc


class _ValidationDeadline(BaseException):
    """Raised by SIGALRM inside the validator (BaseException: the validator catches
    Exception)."""


def _findings(doc: dict[str, Any]) -> list[dict[str, str]]:
    """Validator findings, under a time limit. The validator's own limit is checked between
    schemas only (one huge schema can take seconds), so in a main thread (a prefork worker, a
    test) a SIGALRM timer enforces it too; elsewhere the cooperative limit is all there is."""
    limit = validation_timeout()
    use_alarm = (hasattr(signal, "setitimer")
                 and threading.current_thread() is threading.main_thread())
    previous: Any = None
    if use_alarm:
        def on_alarm(signum: int, frame: Any) -> None:
            raise _ValidationDeadline

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, limit + 0.5)
    try:
        found = [{"message": f.message, "location": f.path, "code": f.code}
                 for f in openapi.validate(doc, timeout=limit)]
    except _ValidationDeadline:
        found = [{"message": f"Validation stopped after {limit:g} s; the spec was not fully "
                             "checked.", "location": "", "code": "timeout"}]
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
    return found


def _diff_dict(d: openapi.OperationsDiff, base: SpecImport) -> dict[str, Any]:
    return {"base_spec": base.public_id, "added": d.added, "removed": d.removed,
            "changed": d.changed, "affected": d.affected_selected, "partial": d.partial}


#: Fields the import task writes once the spec is parsed (the operation list is shown then,
#: while validation runs).
_PARSED_FIELDS = ["status", "stage", "title", "api_version", "spec_version", "operations",
                  "size_bytes", "default_base_url"]


def _save_parsed(spec_import: SpecImport, text: str | None) -> None:
    """Store what parsing gave (and the stored copy, ``text``) before validation starts."""
    spec_import.status = SpecImport.Status.RUNNING
    spec_import.stage = "validating"
    fields = list(_PARSED_FIELDS)
    if text is not None:
        spec_import.raw_text = text
        fields.append("raw_text")
    spec_import.save(update_fields=fields)
    spec_import.raw_text = ""  # the parsed tree is what the rest needs: not the text too


def is_parsed(spec_import: SpecImport) -> bool:
    """The operation list is known (validation or the comparison may still run)."""
    return spec_import.status == SpecImport.Status.READY or (
        spec_import.status == SpecImport.Status.RUNNING
        and spec_import.stage in ("validating", "comparing"))


def _read_stored_paste(spec_import: SpecImport) -> openapi.ParsedSpec | None:
    """Parse a body the web process stored (``import_stored``) and store its text; None when
    the import has no stored body (a paste read at once: its text is in the database)."""
    found = uploads.find(spec_import.public_id)
    if found is None:
        return None
    _set_stage(spec_import, "reading")
    text = stored_text(*found)
    parsed = openapi.parse_spec(text)
    _refuse_nul(text)
    _fill_from_parsed(spec_import, parsed, _text_size(text), None)
    _save_parsed(spec_import, text)
    del text
    uploads.delete(spec_import.public_id)
    return parsed


def _refresh_diff(spec_import: SpecImport, parsed: openapi.ParsedSpec,
                  integration: WorkspaceIntegration) -> dict[str, Any]:
    """``openapi.diff_operations`` of the spec in use and the new one, holding one parsed
    tree at a time: the new spec's operation fingerprints are taken first and its tree
    dropped (the caller holds no other reference) before the old spec is read."""
    base = SpecImport.objects.defer("raw_text").get(pk=integration.spec_id)
    selected = integration.selected_keys
    if spec_import.purpose == SpecImport.Purpose.CHECK:
        return _diff_dict(openapi.diff_operations(integration.operations_doc, parsed.doc,
                                                  selected), base)
    new_fp = openapi.operation_fingerprints(parsed.doc)
    parsed.doc = {}
    old_fp = openapi.operation_fingerprints(load_stored_doc(base))
    removed = [k for k in old_fp if k not in new_fp]
    changed = [k for k in old_fp if k in new_fp and old_fp[k] != new_fp[k]]
    gone = set(removed) | set(changed)
    return _diff_dict(openapi.OperationsDiff(
        added=[k for k in new_fp if k not in old_fp], removed=removed, changed=changed,
        affected_selected=[k for k in dict.fromkeys(selected) if k in gone or k not in new_fp],
        partial=False), base)


def run_import(import_id: int) -> SpecImport | None:
    """The import task's work: fetch (URL) or read the stored body (paste/upload), parse,
    store the operation list (shown at once), then bundle, validate, compare. Safe to run
    twice: a finished import is left as it is. A failure is recorded on the import only; an
    integration's own spec is never touched here. Only one copy of the spec is held at a time
    where it can be helped: the fetched bytes and the text are dropped once parsed."""
    spec_import = (SpecImport.objects.select_related("workspace", "integration")
                   .defer("raw_text").filter(pk=import_id).first())
    if spec_import is None or spec_import.status in (SpecImport.Status.READY,
                                                     SpecImport.Status.FAILED):
        return spec_import
    purpose = spec_import.purpose
    try:
        if spec_import.source == SpecImport.Source.URL:
            _set_stage(spec_import, "fetching")
            data, final_url = fetch_spec(spec_import.source_url)
            _set_stage(spec_import, "reading")
            parsed, text = parse_fetched(data, final_url)
            del data
            _refuse_nul(text)
            _fill_from_parsed(spec_import, parsed, _text_size(text), final_url)
            if purpose != SpecImport.Purpose.CHECK:
                _save_parsed(spec_import, text)
            del text
        else:
            stored = _read_stored_paste(spec_import)
            if stored is None:  # pasted and read at once: the stored copy is in the database
                _set_stage(spec_import, "reading")
                text = SpecImport.objects.values_list("raw_text", flat=True).get(pk=import_id)
                stored = openapi.parse_spec(text)
                _fill_from_parsed(spec_import, stored, _text_size(text), None)
                del text
            parsed = stored
            del stored
        if purpose != SpecImport.Purpose.CHECK:
            _set_stage(spec_import, "validating")
            spec_import.warnings = _findings(parsed.doc)
        integration = spec_import.integration
        if integration is not None and purpose != SpecImport.Purpose.CREATE:
            _set_stage(spec_import, "comparing")
            spec_import.diff = _refresh_diff(spec_import, parsed, integration)
        del parsed
    except openapi.SpecError as exc:
        return _fail(spec_import, exc.code, exc.message)
    except IntegrationError as exc:
        return _fail(spec_import, exc.code, exc.message)
    except egress.EgressError as exc:
        return _fail(spec_import, *egress_failure(exc))
    spec_import.status = SpecImport.Status.READY
    spec_import.stage = ""
    spec_import.error_code = spec_import.error_message = ""
    spec_import.finished_at = timezone.now()
    spec_import.save(update_fields=["status", "stage", "error_code", "error_message",
                                    "finished_at", "title", "api_version", "spec_version",
                                    "operations", "size_bytes", "default_base_url", "warnings",
                                    "diff"])
    if purpose == SpecImport.Purpose.CHECK and spec_import.integration_id:
        _after_check(spec_import)
    return spec_import


def operations_of(spec_import: SpecImport) -> list[dict[str, Any]]:
    return list(spec_import.operations or [])


def operation_search_text(op: dict[str, Any]) -> str:
    """What an operation search looks in (lower case): method, path, operationId, summary and
    tags. The operations page filters on it in the browser, the API on the server."""
    return " ".join([op["method"], op["path"], op.get("operation_id") or "",
                     op.get("summary") or "", *(op.get("tags") or [])]).lower()


# --- validation of integration fields -----------------------------------------------------------


def suggest_slug(workspace: Workspace, title: str) -> str:
    base = slugify(title)[:SLUG_MAX].strip("-") or "api"
    taken = set(WorkspaceIntegration.objects.filter(workspace=workspace,
                                                    slug__startswith=base[:40])
                .values_list("slug", flat=True))
    slug, n = base, 2
    while slug in taken:
        suffix = f"-{n}"
        slug = base[:SLUG_MAX - len(suffix)].strip("-") + suffix
        n += 1
    return slug


def _clean_slug(workspace: Workspace, slug: str, exclude_pk: int | None = None) -> str:
    slug = (slug or "").strip()
    if not slug:
        raise IntegrationError("Enter a slug.", "required", "slug")
    if len(slug) > SLUG_MAX or not SLUG_RE.match(slug):
        raise IntegrationError(
            f"Use lower-case letters, digits and hyphens (up to {SLUG_MAX}), starting and "
            "ending with a letter or digit, e.g. my-api.", "invalid_slug", "slug")
    qs = WorkspaceIntegration.objects.filter(workspace=workspace, slug=slug)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    if qs.exists():
        raise IntegrationError(f"An integration with the slug “{slug}” already exists in this "
                               "workspace.", "duplicate_slug", "slug")
    return slug


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise IntegrationError("Enter a name.", "required", "name")
    if len(name) > MAX_NAME:
        raise IntegrationError(f"Keep the name to {MAX_NAME} characters.", "invalid", "name")
    check_name(name, what="An integration name", error=IntegrationError)
    return name


def _clean_description(description: str) -> str:
    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        raise IntegrationError(f"Keep the description to {MAX_DESCRIPTION} characters.",
                               "invalid", "description")
    return description


def clean_base_url(url: str) -> str:
    """The base URL as stored: http(s), a public-looking address (no DNS), no trailing '/'."""
    url = (url or "").strip()
    if not url:
        raise IntegrationError("Enter the base URL of the API.", "required", "base_url")
    if len(url) > 2000:
        raise IntegrationError("Keep the base URL under 2,000 characters.", "invalid_url",
                               "base_url")
    if "://" not in url:
        raise IntegrationError("Enter a full URL starting with https:// (the spec's server is "
                               "relative).", "invalid_url", "base_url")
    if "?" in url or "#" in url:
        raise IntegrationError("The base URL can't have a query string or fragment.",
                               "invalid_url", "base_url")
    try:
        egress.check_url_shape(url)
    except egress.EgressError as exc:
        raise IntegrationError(f"This base URL can't be used: {exc.reason}.", "invalid_url",
                               "base_url")
    return url.rstrip("/")


def clean_operation_keys(workspace: Workspace, keys: Iterable[str],
                         available: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(k.strip() for k in keys if k and k.strip()))
    limit = max_operations(workspace)
    if not wanted:
        raise IntegrationError("Select at least one operation.", "no_operations", "operations")
    if len(wanted) > limit:
        raise IntegrationError(f"Select at most {limit} operations ({len(wanted)} selected).",
                               "too_many_operations", "operations")
    known = set(available)
    missing = [k for k in wanted if k not in known]
    if missing:
        shown = ", ".join(missing[:3])
        raise IntegrationError(f"Not an operation of this spec: {shown}.", "unknown_operation",
                               "operations")
    return wanted


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


# --- integrations -------------------------------------------------------------------------------


def _spec_for(workspace: Workspace, spec_import: SpecImport) -> SpecImport:
    if spec_import.workspace_id != workspace.pk:
        raise IntegrationError("No such import.", "not_found", "import_id")
    if spec_import.status != SpecImport.Status.READY:
        raise IntegrationError("The spec is not ready yet: wait for the import to finish.",
                               "import_not_ready", "import_id")
    if spec_import.purpose == SpecImport.Purpose.CHECK:
        raise IntegrationError("This import is a periodic check; import the spec instead.",
                               "invalid", "import_id")
    return spec_import


def _extract(spec_import: SpecImport, keys: list[str]) -> dict[str, Any]:
    try:
        return openapi.extract_operations(load_stored_doc(spec_import), keys)
    except openapi.SpecError as exc:
        raise _spec_error(exc, "operations") from None


def _audit(integration: WorkspaceIntegration, *, actor: Any, action: str,
           changes: dict[str, Any] | None = None) -> None:
    audit.record(integration.workspace, actor=actor, action=action, target_type="integration",
                 target_name=integration.slug, target_id=integration.public_id,
                 scope=f"integration:{integration.public_id}", changes=changes)


@transaction.atomic
def create_integration(workspace: Workspace, *, actor: Any, spec_import: SpecImport, slug: str,
                       name: str, operation_keys: Iterable[str], base_url: str = "",
                       description: str = "",
                       headers: Sequence[HeaderInput] = ()) -> WorkspaceIntegration:
    """Create an integration from a ready import; an empty ``base_url`` means the spec's
    server URL."""
    _check_plan(workspace)
    spec_import = _spec_for(workspace, spec_import)
    slug = _clean_slug(workspace, slug)
    name = _clean_name(name)
    description = _clean_description(description)
    base_url = clean_base_url(base_url or spec_import.default_base_url)
    keys = clean_operation_keys(workspace, operation_keys,
                                (op["key"] for op in operations_of(spec_import)))
    plan = _clean_headers(list(headers), {})
    for item in plan:
        if item.value is None:  # nothing exists yet to keep
            raise IntegrationError(f"Enter a value for the header {item.name}.",
                                   "invalid_header", "headers")
    operations_doc = _extract(spec_import, keys)
    try:
        with transaction.atomic():
            integration = WorkspaceIntegration.objects.create(
                workspace=workspace, slug=slug, name=name, description=description,
                base_url=base_url, spec=spec_import, selected_keys=keys,
                operations_doc=operations_doc,
                created_by=_user(actor))
    except IntegrityError:
        raise IntegrationError(f"An integration with the slug “{slug}” already exists in this "
                               "workspace.", "duplicate_slug", "slug")
    header_changes = _write_headers(integration, plan, actor=actor)
    _audit(integration, actor=actor, action="integration.create", changes={
        **audit.diff(None, {"slug": slug, "name": name, "base_url": base_url}),
        "operations": keys,
        "headers": {p.name: ("set" if p.sensitive else "added") for p in plan
                    if p.name in header_changes},
        "spec": spec_import.source_url or "pasted"})
    return integration


_UNSET: Any = object()


@transaction.atomic
def update_integration(integration: WorkspaceIntegration, *, actor: Any, slug: Any = _UNSET,
                       name: Any = _UNSET, description: Any = _UNSET, base_url: Any = _UNSET,
                       operation_keys: Iterable[str] | None = None,
                       headers: Sequence[HeaderInput] | None = None) -> WorkspaceIntegration:
    """Edit on the stored spec (never refetched). Sensitive headers not deleted or replaced
    keep their values; if one of those can't be loaded, nothing is saved."""
    locked = (WorkspaceIntegration.objects.select_for_update().select_related("workspace")
              .get(pk=integration.pk))
    workspace = locked.workspace
    _check_plan(workspace)
    before = audit.snapshot(locked, ("slug", "name", "base_url"))  # description: "changed"
    changes: dict[str, Any] = {}
    fields: list[str] = []
    if slug is not _UNSET and slug != locked.slug:
        locked.slug = _clean_slug(workspace, slug, exclude_pk=locked.pk)
        changes["slug"] = locked.slug
        fields.append("slug")
    if name is not _UNSET:
        clean = _clean_name(name)
        if clean != locked.name:
            locked.name, changes["name"] = clean, clean
            fields.append("name")
    if description is not _UNSET:
        clean = _clean_description(description)
        if clean != locked.description:
            locked.description, changes["description"] = clean, CHANGED
            fields.append("description")
    old_base_url = locked.base_url
    if base_url is not _UNSET:
        clean = clean_base_url(base_url)
        if clean != locked.base_url:
            locked.base_url, changes["base_url"] = clean, clean
            fields.append("base_url")
    if operation_keys is not None:
        spec = SpecImport.objects.defer("raw_text").get(pk=locked.spec_id)
        keys = clean_operation_keys(workspace, operation_keys,
                                    (op["key"] for op in operations_of(spec)))
        if keys != locked.selected_keys:
            changes["operations"] = {
                "added": [k for k in keys if k not in locked.selected_keys],
                "removed": [k for k in locked.selected_keys if k not in keys]}
            locked.selected_keys = keys
            locked.operations_doc = _extract(spec, keys)
            fields += ["selected_keys", "operations_doc"]
    plan = None
    if headers is not None:
        plan = _clean_headers(list(headers), _existing_headers(locked))
    _check_origin_move(locked, old_base_url, plan)
    _check_kept_headers_load(locked, plan)
    if plan is not None:
        header_changes = _write_headers(locked, plan, actor=actor)
        if header_changes:
            changes["headers"] = header_changes
    if changes:
        locked.config_version += 1
        fields += ["config_version", "updated_at"]
        try:
            with transaction.atomic():
                locked.save(update_fields=fields)
        except IntegrityError:
            raise IntegrationError("An integration with this slug already exists in this "
                                   "workspace.", "duplicate_slug", "slug")
        for key in before:  # field-level diff: {"from", "to"}
            if key in changes:
                changes[key] = {"from": before[key], "to": getattr(locked, key)}
        _audit(locked, actor=actor, action="integration.update", changes=changes)
    return locked


def set_headers(integration: WorkspaceIntegration, *, actor: Any,
                headers: Sequence[HeaderInput]) -> WorkspaceIntegration:
    return update_integration(integration, actor=actor, headers=headers)


@transaction.atomic
def delete_integration(integration: WorkspaceIntegration, *, actor: Any) -> None:
    """Delete it, its header secrets and its spec copies (unless another integration uses the
    same stored spec). Call logs stay (their integration becomes empty)."""
    locked = (WorkspaceIntegration.objects.select_for_update().select_related("workspace")
              .filter(pk=integration.pk).first())
    if locked is None:
        return
    vault = _vault()
    callers = [c["app"].name for c in recent_callers(locked)]
    for header in IntegrationHeader.objects.filter(integration=locked).exclude(secret_name=""):
        vault.delete_secret_named(locked.workspace, header.secret_name, actor=actor,
                                  audited=False)
    spec_id = locked.spec_id
    _audit(locked, actor=actor, action="integration.delete",
           changes={**audit.diff({"name": locked.name, "base_url": locked.base_url}, None),
                    "recent_callers": callers})
    SpecImport.objects.filter(pk=spec_id).update(integration=None)
    locked.delete()
    if not WorkspaceIntegration.objects.filter(spec_id=spec_id).exists():
        SpecImport.objects.filter(pk=spec_id).delete()


def recent_callers(integration: WorkspaceIntegration,
                   days: int = RECENT_CALLERS_DAYS) -> list[dict[str, Any]]:
    """Apps that called the integration in the last ``days`` days, most recent first."""
    since = timezone.now() - timedelta(days=days)
    rows = list(CallLog.objects.filter(integration=integration, created_at__gte=since,
                                       app__isnull=False)
                .values("app").annotate(last=Max("created_at"), calls=Count("id"))
                .order_by("-last")[:50])
    apps = App.objects.in_bulk([r["app"] for r in rows])
    return [{"app": apps[r["app"]], "last_call_at": r["last"], "calls": r["calls"]}
            for r in rows if r["app"] in apps]


# --- refresh from URL and the periodic check ----------------------------------------------------


def start_refresh(integration: WorkspaceIntegration, *, actor: Any) -> SpecImport:
    spec = SpecImport.objects.defer("raw_text", "operations").get(pk=integration.spec_id)
    if not spec.source_url:
        raise IntegrationError("This integration was made from a pasted spec; there is no URL "
                               "to refresh from.", "no_url")
    return start_url_import(integration.workspace, actor=actor, url=spec.source_url,
                            purpose=SpecImport.Purpose.REFRESH, integration=integration)


@transaction.atomic
def apply_refresh(integration: WorkspaceIntegration, spec_import: SpecImport, *, actor: Any,
                  operation_keys: Iterable[str] | None = None
                  ) -> tuple[WorkspaceIntegration, list[str]]:
    """Switch the integration to a refreshed spec. Selected operations that are gone are
    dropped (returned); pass ``operation_keys`` to choose the selection yourself."""
    locked = (WorkspaceIntegration.objects.select_for_update().select_related("workspace")
              .get(pk=integration.pk))
    _check_plan(locked.workspace)
    if (spec_import.integration_id != locked.pk
            or spec_import.purpose != SpecImport.Purpose.REFRESH):
        raise IntegrationError("This import is not a refresh of this integration.", "invalid")
    if spec_import.status != SpecImport.Status.READY:
        raise IntegrationError("The refreshed spec is not ready.", "import_not_ready")
    base = SpecImport.objects.defer("raw_text", "operations").get(pk=locked.spec_id)
    if spec_import.diff.get("base_spec") != base.public_id:
        raise IntegrationError("The integration changed since this refresh was fetched; "
                               "refresh again.", "stale")
    available = [op["key"] for op in operations_of(spec_import)]
    available_set = set(available)
    dropped = [k for k in locked.selected_keys if k not in available_set]
    if operation_keys is None:
        wanted = [k for k in locked.selected_keys if k in available_set]
        if not wanted:
            raise IntegrationError("None of the selected operations is in the new spec; "
                                   "choose the operations to keep.", "no_operations",
                                   "operations")
    else:
        wanted = list(operation_keys)
    keys = clean_operation_keys(locked.workspace, wanted, available)
    _check_kept_headers_load(locked, None)
    locked.operations_doc = _extract(spec_import, keys)
    locked.selected_keys = keys
    locked.spec = spec_import
    locked.notice = ""
    locked.config_version += 1
    locked.save(update_fields=["operations_doc", "selected_keys", "spec", "notice",
                               "config_version", "updated_at"])
    _audit(locked, actor=actor, action="integration.refresh", changes={
        "spec": spec_import.source_url, "operations_removed": dropped,
        "operations_changed": [k for k in spec_import.diff.get("changed", []) if k in keys]})
    # The old copy is unused now (unless another integration was created from it).
    if not WorkspaceIntegration.objects.filter(spec_id=base.pk).exists():
        SpecImport.objects.filter(pk=base.pk).delete()
    return locked, dropped


def integrations_to_check() -> QuerySet[WorkspaceIntegration]:
    """Integrations imported from a URL, for the periodic spec check."""
    return (WorkspaceIntegration.objects.exclude(spec__source_url="")
            .filter(spec__source=SpecImport.Source.URL))


def start_check(integration_id: int) -> SpecImport | None:
    """Create the periodic-check import of one integration (its task does the rest)."""
    integration = (WorkspaceIntegration.objects.select_related("workspace")
                   .filter(pk=integration_id).first())
    if integration is None:
        return None
    url = SpecImport.objects.filter(pk=integration.spec_id).values_list("source_url",
                                                                        flat=True).first()
    if not url:
        return None
    return SpecImport.objects.create(
        workspace=integration.workspace, integration=integration,
        purpose=SpecImport.Purpose.CHECK, source=SpecImport.Source.URL, source_url=url)


def _affected(diff: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The selected operations a check found (removed, changed)."""
    gone = set(diff.get("removed", []))
    affected = diff.get("affected", [])
    return [k for k in affected if k in gone], [k for k in affected if k not in gone]


def _notice_text(diff: dict[str, Any], url: str) -> str:
    removed, changed = _affected(diff)
    parts = []
    if removed:
        parts.append(f"{len(removed)} selected operation(s) no longer exist: "
                     + ", ".join(removed[:10]))
    if changed:
        parts.append(f"{len(changed)} selected operation(s) changed: " + ", ".join(changed[:10]))
    return (f"The spec at {url} changed. " + "; ".join(parts)
            + ". Refresh from the URL to review the change and apply it.")


def _after_check(spec_import: SpecImport) -> None:
    """Set or clear the integration's notice; e-mail admins when it is new."""
    with transaction.atomic():
        integration = (WorkspaceIntegration.objects.select_for_update()
                       .select_related("workspace").filter(pk=spec_import.integration_id)
                       .first())
        if integration is None:
            return
        diff = spec_import.diff or {}
        if diff.get("base_spec") != SpecImport.objects.filter(pk=integration.spec_id).values_list(
                "public_id", flat=True).first():
            return  # the integration changed meanwhile; the next check will tell
        notice = _notice_text(diff, spec_import.source_url) if diff.get("affected") else ""
        if notice != integration.notice:
            integration.notice = notice
            integration.save(update_fields=["notice"])
            if notice:
                _email_admins(integration, diff, spec_import.source_url)
        # Keep only the latest check of each integration.
        (SpecImport.objects.filter(integration=integration, purpose=SpecImport.Purpose.CHECK)
         .exclude(pk=spec_import.pk).exclude(pk=integration.spec_id).delete())


def _email_admins(integration: WorkspaceIntegration, diff: dict[str, Any], url: str) -> None:
    site = _setting("SITE_URL", "").rstrip("/")
    link = site + reverse("integration-detail",
                          args=[integration.workspace.public_id, integration.public_id])
    recipients = (Membership.objects.filter(workspace=integration.workspace,
                                            role__in=[Role.ADMIN, Role.OWNER],
                                            user__is_active=True)
                  .order_by("user__email").values_list("user__email", flat=True))
    removed, changed = _affected(diff)
    body = render_to_string("integrations/email_spec_changed.txt", {
        "integration": integration, "url": url, "link": link, "removed": removed,
        "changed": changed,
    })
    subject = f"Integration “{integration.name}”: its API spec changed"
    for email in recipients:
        queue_email_text(email, subject, body)


def cleanup_abandoned_imports(days: int = 7) -> int:
    """Delete create-imports nobody turned into an integration within ``days`` days, and
    finished refresh imports that were never applied."""
    cutoff = timezone.now() - timedelta(days=days)
    used = WorkspaceIntegration.objects.values("spec_id")
    qs = (SpecImport.objects.filter(created_at__lt=cutoff)
          .exclude(purpose=SpecImport.Purpose.CHECK).exclude(pk__in=used))
    for public_id in qs.filter(source=SpecImport.Source.PASTE).values_list("public_id",
                                                                           flat=True):
        uploads.delete(public_id)  # the body of a refused paste, kept for the editor
    count, _ = qs.delete()
    return count


# --- SDK snippets -------------------------------------------------------------------------------


@dataclass
class OperationView:
    key: str
    method: str
    path: str
    operation_id: str
    summary: str
    tags: list[str]
    snippet: str
    params: dict[str, Any] = field(default_factory=dict)


def operation_views(integration: WorkspaceIntegration) -> list[OperationView]:
    """The selected operations with an SDK snippet each, from the stored sub-document."""
    from ..snippets import call_params, render_call

    doc = integration.operations_doc or {}
    listed = {}
    try:
        listed = {op.key: op for op in openapi.list_operations(doc)}
    except openapi.SpecError:
        pass
    out = []
    for key in integration.selected_keys:
        op = listed.get(key)
        method, _, path = key.partition(":")
        try:
            params = call_params(doc, key)
        except openapi.SpecError:
            params = {}
        out.append(OperationView(
            key=key, method=method, path=path,
            operation_id=(op.operation_id or "") if op else "",
            summary=(op.summary or "") if op else "", tags=op.tags if op else [],
            snippet=render_call(integration.slug, key, params), params=params))
    return out
