"""OpenAPI / Swagger spec import, pure Python (no Django).

Pipeline, cheapest first:

1. ``load_document``: size cap, then JSON (``json.loads``) or YAML (built straight from the
   libyaml event stream, which refuses aliases and caps nodes and depth *as it goes*, so an
   alias bomb or a deeply nested file costs nothing); keys become strings (``200:`` ->
   ``"200"``), YAML timestamps stay strings.
2. ``check_document``: supported version, path keys, and every ``$ref`` internal (``#/...``),
   resolvable, and free of ``$ref -> $ref`` loops. After this nothing can make a validator
   fetch a URL or read a local file.
3. ``list_operations``: ``method:path`` keys from the raw document (refs followed on demand).
   ``parse_spec`` = 1 + 2 + 3: the "operation list ready" path.
4. ``validate``: openapi-spec-validator findings as warnings (run it under a time limit).
5. ``extract_operations`` / ``operation_schemas`` / ``diff_operations`` for the selected
   operations; ``bundle`` for multi-file specs fetched through an injected ``fetch``.

Every refusal is a ``SpecError(message, code)`` with a short, user-actionable message.

One module per job; each imports only the ones above it in this list:

    limits       the caps and constants          model        SpecError, data types
    pointers     JSON pointers                   refs         $ref walk, resolver, ref checks
    yaml_loader  YAML from libyaml events        loading      1. load_document
    versions     spec_family                     operations   3. list_operations, spec_info
    checks       2. check_document               base_url     default/operation base URL
    extraction   extract_operations              schemas      operation_schemas
    diff         diff_operations                 bundling     bundle
    parsing      parse_spec, parse_document      validation   4. validate

Callers use this package (``from integrations import openapi``), never the modules. Setting
a name on the package (a test's ``monkeypatch.setattr(openapi, "MAX_NODES", 1000)``, or
tuning a cap) sets it in every module that uses it, as when this was one module
(``workspaces.packages.forward_names``).
"""

from __future__ import annotations

from workspaces.packages import forward_names

from . import (
    base_url,
    bundling,
    checks,
    diff,
    extraction,
    limits,
    loading,
    model,
    operations,
    parsing,
    pointers,
    refs,
    schemas,
    validation,
    versions,
    yaml_loader,
)
from .base_url import default_base_url, operation_base_url
from .bundling import bundle
from .checks import check_document
from .diff import diff_operations, operation_fingerprints
from .extraction import extract_operations
from .limits import (
    BUNDLE_KEY,
    BUNDLE_MAX_BYTES,
    BUNDLE_MAX_FILES,
    EXTRACT_KEY,
    JSON_AS_YAML_MAX_BYTES,
    MAX_DEPTH,
    MAX_FINDING_CHARS,
    MAX_FINDINGS,
    MAX_NODES,
    MAX_SELECTED_OPERATIONS,
    MAX_SPEC_BYTES,
    MAX_YAML_NODES,
    METHODS_V2,
    METHODS_V3,
    PARAM_LOCATIONS_V2,
    PARAM_LOCATIONS_V3,
    SPEC_URI,
)
from .loading import NUL_MESSAGE, decode_text, load_document
from .loading import _load_json as _load_json
from .model import (
    BodySchema,
    Finding,
    Operation,
    OperationSchemas,
    OperationsDiff,
    ParamSchema,
    ParsedSpec,
    SpecError,
    SpecInfo,
    too_large_error,
)
from .operations import list_operations, spec_info
from .parsing import parse_document, parse_spec
from .refs import find_external_refs, resolve_ref
from .schemas import operation_schemas
from .validation import validate
from .versions import spec_family
from .yaml_loader import _load_yaml as _load_yaml
from .yaml_loader import _SpecLoader as _SpecLoader

_MODULES = (
    limits, model, pointers, refs, yaml_loader, loading, versions, operations, checks,
    base_url, extraction, schemas, diff, bundling, parsing, validation,
)
forward_names(__name__, _MODULES)


__all__ = [
    "BUNDLE_KEY",
    "BUNDLE_MAX_BYTES",
    "BUNDLE_MAX_FILES",
    "EXTRACT_KEY",
    "JSON_AS_YAML_MAX_BYTES",
    "MAX_DEPTH",
    "MAX_FINDINGS",
    "MAX_FINDING_CHARS",
    "MAX_NODES",
    "MAX_SELECTED_OPERATIONS",
    "MAX_SPEC_BYTES",
    "MAX_YAML_NODES",
    "METHODS_V2",
    "METHODS_V3",
    "NUL_MESSAGE",
    "PARAM_LOCATIONS_V2",
    "PARAM_LOCATIONS_V3",
    "SPEC_URI",
    "BodySchema",
    "Finding",
    "Operation",
    "OperationSchemas",
    "OperationsDiff",
    "ParamSchema",
    "ParsedSpec",
    "SpecError",
    "SpecInfo",
    "bundle",
    "check_document",
    "decode_text",
    "default_base_url",
    "diff_operations",
    "extract_operations",
    "find_external_refs",
    "list_operations",
    "load_document",
    "operation_base_url",
    "operation_fingerprints",
    "operation_schemas",
    "parse_document",
    "parse_spec",
    "resolve_ref",
    "spec_family",
    "spec_info",
    "too_large_error",
    "validate",
]
