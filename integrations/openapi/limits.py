"""Limits and constants of the spec pipeline (module constants so the service layer and
tests can refer to them; read them through ``integrations.openapi``)."""

from __future__ import annotations

import re

#: Largest accepted spec text (bytes, UTF-8), checked before parsing.
MAX_SPEC_BYTES = 25 * 1024 * 1024
#: Max JSON values (objects + arrays + scalars) in one document. The 13 MB fully dereferenced
#: Box spec has ~381k.
MAX_NODES = 1_500_000
#: YAML is built from libyaml events at ~2 us per node (JSON: ~0.1 us), so YAML gets a lower
#: cap to refuse oversized YAML in about a second (a YAML copy of the 13 MB spec still fits).
MAX_YAML_NODES = 600_000
#: Max nesting of objects/arrays (the deref'd Box spec is 63 deep).
MAX_DEPTH = 200
#: Operations a user may select for one integration.
MAX_SELECTED_OPERATIONS = 30
#: Validation findings returned at most.
MAX_FINDINGS = 50
#: Finding messages are cut to this many characters.
MAX_FINDING_CHARS = 300
#: Bundling limits: number of files (root included) and total bytes fetched.
BUNDLE_MAX_FILES = 50
BUNDLE_MAX_BYTES = MAX_SPEC_BYTES
#: Where ``bundle`` puts the content of other files.
BUNDLE_KEY = "x-bundled"
#: Marker ``extract_operations`` puts on a sub-document (keys of the extracted operations).
EXTRACT_KEY = "x-switchboard-extract"
#: Text that looks like JSON but is not is retried as YAML (lenient: trailing commas, single
#: quotes) only up to this size, so that broken big inputs are refused fast.
JSON_AS_YAML_MAX_BYTES = 2 * 1024 * 1024
#: Base URI under which ``operation_schemas`` registers the sub-document for jsonschema.
SPEC_URI = "https://spec.switchboard.invalid/openapi.json"

METHODS_V2 = ("get", "put", "post", "delete", "options", "head", "patch")
METHODS_V3 = (*METHODS_V2, "trace")
PARAM_LOCATIONS_V2 = frozenset({"path", "query", "header", "body", "formData"})
PARAM_LOCATIONS_V3 = frozenset({"path", "query", "header", "cookie"})

_JSON_SCALARS = (str, int, float, bool, type(None))
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
