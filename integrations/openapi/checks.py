"""Step 2, the sanity pass: supported version, internal refs that resolve without loops, path
keys, parameter locations (``check_document``)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .limits import (
    PARAM_LOCATIONS_V2,
    PARAM_LOCATIONS_V3,
)
from .model import (
    SpecError,
    _truncate,
)
from .operations import (
    _iter_operations,
)
from .refs import (
    _check_refs,
    _ref_sites,
    _Resolver,
)
from .versions import spec_family

#: Characters no URL path can hold, not even percent-encoded by a sane API description.
_PATH_BAD_CHARS = re.compile(r"[\x00-\x20\x7f]")


def _check_structure(doc: dict[str, Any], family: str, resolver: _Resolver) -> None:
    paths = doc.get("paths")
    if paths is None:
        return
    if not isinstance(paths, dict):
        raise SpecError("'paths' must be an object mapping paths to operations.", "invalid_spec")
    for path in paths:
        if path.startswith("x-"):
            continue
        if not path.startswith("/"):
            raise SpecError(
                f"Path '{_truncate(path, 100)}' must start with '/'.",
                "invalid_path",
            )
        if _PATH_BAD_CHARS.search(path):
            raise SpecError(
                f"Path {_truncate(json.dumps(path), 100)} contains whitespace or control "
                "characters, so no URL can be built from it.",
                "invalid_path",
            )
    for op in _iter_operations(doc, family, resolver):
        for param in op.parameters:
            _check_parameter(param, op.key, family)


def _check_parameter(param: Any, key: str, family: str) -> None:
    allowed = PARAM_LOCATIONS_V2 if family == "2.0" else PARAM_LOCATIONS_V3
    where = param.get("in")
    if where not in allowed:
        hint = ""
        if where in ("body", "formData"):
            hint = " ('in: body' and 'in: formData' are Swagger 2.0; OpenAPI 3 uses requestBody)"
        raise SpecError(
            f"Operation {_truncate(key, 120)}: parameter '{_truncate(str(param.get('name')), 60)}'"
            f" has an invalid location 'in: {_truncate(str(where), 30)}'{hint}.",
            "invalid_parameter",
        )


def _check(doc: Any, refs: Mapping[str, Any] | set[str]) -> tuple[str, str, _Resolver]:
    family, version = spec_family(doc)
    resolver = _check_refs(doc, refs)
    _check_structure(doc, family, resolver)
    return family, version, resolver


def check_document(doc: Any) -> str:
    """The sanity pass on a loaded document: version, internal refs that resolve without
    loops, path keys, parameter locations. Returns the family ("2.0", "3.0", "3.1")."""
    family, _version, _resolver = _check(doc, _ref_sites(doc))
    return family


# --------------------------------------------------------------------------------------------
