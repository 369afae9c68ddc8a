"""The import wizard's first step: a spec from a URL, a paste or an upload becomes a
``SpecImport`` (the import task fetches or reads it, parses, validates and compares), the
stages the page shows meanwhile, and the operation list.

The task is queued by name (``workspaces.enqueue``) after the transaction commits; this
module never imports ``integrations.tasks``."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from workspaces import enqueue
from workspaces.models import Workspace

from .. import egress, openapi, uploads
from ..models import SpecImport, WorkspaceIntegration
from .base import IntegrationError, _check_plan, _setting, _spec_error, _user, validation_timeout
from .checks import _after_check
from .fetching import egress_failure, fetch_spec, parse_fetched
from .spec_text import _refuse_nul, _text_size, decode_spec, spec_too_large, stored_text

log = logging.getLogger(__name__)

#: The import task, queued by name (``workspaces.enqueue``).
RUN_SPEC_IMPORT = "integrations.tasks.run_spec_import"
STAGES = {
    "fetching": "Fetching the spec",
    "reading": "Reading the spec",
    "bundling": "Fetching the files the spec refers to",
    "validating": "Validating the spec",
    "comparing": "Comparing with the current spec",
}


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


THREAD_ATTEMPTS = 4


def _run_in_thread(import_id: int) -> None:
    """``make run``'s import thread. SQLite may refuse a write while another thread reads
    ("database table is locked"): the import is safe to run again, so it is retried a few
    times; if it still can't finish it is marked failed, never left "running" forever."""
    import time

    from django.db import OperationalError, connection

    try:
        for attempt in range(1, THREAD_ATTEMPTS + 1):
            try:
                result = enqueue.registered(RUN_SPEC_IMPORT).apply(args=(import_id,))
                result.get(propagate=True)
                return
            except OperationalError:
                if attempt == THREAD_ATTEMPTS:
                    log.exception("spec import %s: database error, giving up", import_id)
                    fail_import(import_id, "database_error", "The import stopped on a "
                                "database error. Try again.")
                    return
                connection.close()
                time.sleep(0.2 * attempt)
    finally:
        connection.close()  # this thread's own connection


def _schedule_import(spec_import: SpecImport) -> None:
    pk = spec_import.pk
    if import_mode() == "thread":
        transaction.on_commit(lambda: threading.Thread(
            target=_run_in_thread, args=(pk,), daemon=True, name=f"spec-import-{pk}").start())
    else:
        transaction.on_commit(lambda: enqueue.delay(RUN_SPEC_IMPORT, pk))


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
