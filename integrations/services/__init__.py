"""Business rules of workspace integrations: import a spec, create/edit/delete integrations,
refresh them from their URL, and the periodic spec check.

Views, API views, the admin and tasks call these; never the reverse. Every write runs in a
transaction, takes ``actor=``, records its audit row (names and "changed" only, never a header
value) and schedules Celery tasks (queued by name, ``workspaces.enqueue``: no module here
imports ``integrations.tasks``) and e-mail with ``transaction.on_commit``.

The stored copy of a spec (``SpecImport.raw_text``) is what every later step uses; the live
URL is read only by an import task (create, refresh or periodic check).

For the proxy: ``integration_headers(integration)`` (sensitive values resolved from the vault,
``HeadersUnavailable`` when one can't be decrypted) and ``is_sensitive_header(name)``.

One module per job; each imports only the ones above it in this list:

    base           errors, plan feature, settings, actor, the vault (late import)
    headers        sensitive headers, what the proxy sends, the header plan of an edit
    spec_text      a spec's text: decoding, size cap, API envelope, stored body, editor
    fetching       fetching a spec from its URL (egress), bundling multi-file specs
    checks         the periodic check (drift notice, admins' e-mail), abandoned imports
    imports        the import wizard: URL/paste/upload -> SpecImport, the import task's work
    fields         slug, name, description, base URL, selected operations
    configuration  create, edit, headers, delete, recent callers
    refresh        refresh from the URL: start, apply
    sdk            the selected operations with SDK snippets

Callers use this package (``from integrations import services``), never the modules. Setting
a name on the package (a test's ``monkeypatch.setattr(services, "_findings", ...)``) sets it
in every module that uses it, as when this was one module (``workspaces.packages``).
"""

from __future__ import annotations

from workspaces.packages import forward_names

from ..models import CallLog, IntegrationHeader, SpecImport, WorkspaceIntegration
from . import (
    base,
    checks,
    configuration,
    fetching,
    fields,
    headers,
    imports,
    refresh,
    sdk,
    spec_text,
)
from .base import (
    CHANGED,
    FEATURE,
    HeadersUnavailable,
    IntegrationError,
    bundle_deadline,
    bundle_max_files,
    max_operations,
    validation_timeout,
)
from .checks import (
    cleanup_abandoned_imports,
    integrations_to_check,
    start_check,
)
from .configuration import (
    RECENT_CALLERS_DAYS,
    create_integration,
    delete_integration,
    recent_callers,
    set_headers,
    update_integration,
)
from .fetching import (
    FETCH_ACCEPT,
    egress_failure,
    fetch_spec,
    parse_fetched,
)
from .fields import (
    MAX_DESCRIPTION,
    MAX_NAME,
    SLUG_MAX,
    SLUG_RE,
    clean_base_url,
    clean_operation_keys,
    suggest_slug,
)
from .headers import (
    FORBIDDEN_HEADER_NAMES,
    HEADER_NAME_RE,
    MAX_HEADER_VALUE,
    MAX_HEADERS,
    SENSITIVE_HEADER_NAMES,
    SENSITIVE_HEADER_PARTS,
    HeaderInput,
    OriginMoved,
    base_url_origin,
    blocked_message,
    integration_headers,
    is_sensitive_header,
    unloadable_headers,
)
from .imports import (
    RUN_SPEC_IMPORT,
    STAGES,
    fail_import,
    import_mode,
    import_pasted,
    import_stored,
    is_parsed,
    load_stored_doc,
    operation_search_text,
    operations_of,
    run_import,
    start_url_import,
)
from .imports import _findings as _findings
from .imports import _schedule_import as _schedule_import
from .refresh import (
    apply_refresh,
    start_refresh,
)
from .sdk import (
    OperationView,
    operation_views,
)
from .spec_text import (
    ENVELOPE_KEYS,
    MAX_JSON_BODY,
    SPEC_MARKERS,
    decode_spec,
    is_import_envelope,
    spec_too_large,
    stored_text,
    text_for_editor,
    unwrap_json_body,
)

_MODULES = (base, headers, spec_text, fetching, checks, imports, fields, configuration, refresh,
            sdk)
forward_names(__name__, _MODULES)

__all__ = [
    "CHANGED",
    "CallLog",
    "ENVELOPE_KEYS",
    "FEATURE",
    "FETCH_ACCEPT",
    "FORBIDDEN_HEADER_NAMES",
    "HEADER_NAME_RE",
    "HeaderInput",
    "HeadersUnavailable",
    "IntegrationError",
    "IntegrationHeader",
    "MAX_DESCRIPTION",
    "MAX_HEADERS",
    "MAX_HEADER_VALUE",
    "MAX_JSON_BODY",
    "MAX_NAME",
    "OperationView",
    "OriginMoved",
    "RECENT_CALLERS_DAYS",
    "RUN_SPEC_IMPORT",
    "SENSITIVE_HEADER_NAMES",
    "SENSITIVE_HEADER_PARTS",
    "SLUG_MAX",
    "SLUG_RE",
    "SPEC_MARKERS",
    "STAGES",
    "SpecImport",
    "WorkspaceIntegration",
    "apply_refresh",
    "base_url_origin",
    "blocked_message",
    "bundle_deadline",
    "bundle_max_files",
    "clean_base_url",
    "clean_operation_keys",
    "cleanup_abandoned_imports",
    "create_integration",
    "decode_spec",
    "delete_integration",
    "egress_failure",
    "fail_import",
    "fetch_spec",
    "import_mode",
    "import_pasted",
    "import_stored",
    "integration_headers",
    "integrations_to_check",
    "is_import_envelope",
    "is_parsed",
    "is_sensitive_header",
    "load_stored_doc",
    "max_operations",
    "operation_search_text",
    "operation_views",
    "operations_of",
    "parse_fetched",
    "recent_callers",
    "run_import",
    "set_headers",
    "spec_too_large",
    "start_check",
    "start_refresh",
    "start_url_import",
    "stored_text",
    "suggest_slug",
    "text_for_editor",
    "unloadable_headers",
    "unwrap_json_body",
    "update_integration",
    "validation_timeout",
]
