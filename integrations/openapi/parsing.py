"""``parse_spec`` = load + sanity pass + operation list: the "operation list ready" path."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .bundling import bundle
from .checks import _check
from .limits import (
    BUNDLE_MAX_FILES,
)
from .loading import (
    _load,
    decode_text,
)
from .model import (
    ParsedSpec,
    SpecError,
)
from .operations import (
    _iter_operations,
    _operation,
    spec_info,
)
from .refs import (
    _is_external,
    _ref_sites,
    _ref_where,
)
from .versions import spec_family


def parse_document(doc: Any) -> ParsedSpec:
    """Sanity pass + operation list for an already loaded (or bundled) document."""
    return _parsed(doc, _ref_sites(doc))


def _parsed(doc: Any, refs: Mapping[str, Any] | set[str]) -> ParsedSpec:
    family, _version, resolver = _check(doc, refs)
    operations = [_operation(raw) for raw in _iter_operations(doc, family, resolver)]
    return ParsedSpec(doc=doc, info=spec_info(doc, operations), operations=operations)


def parse_spec(
    data: str | bytes | bytearray,
    *,
    source_url: str | None = None,
    fetch: Callable[[str], str | bytes] | None = None,
    max_files: int = BUNDLE_MAX_FILES,
) -> ParsedSpec:
    """Load + sanity pass + operation list (no validation): "operation list ready".

    With ``source_url`` and ``fetch``, references to other files of the same origin are
    bundled first; without them any reference to another file is refused."""
    doc, refs = _load(data)
    if fetch is not None and source_url and any(_is_external(r) for r in refs):
        spec_family(doc)  # refuse non-specs before fetching anything
        doc = bundle(doc, source_url, fetch, max_files=max_files)
        return _parsed(doc, _ref_sites(doc))
    try:
        return _parsed(doc, refs)
    except SpecError as exc:
        ref = getattr(exc, "ref", None)
        where = _ref_where(refs, ref) if isinstance(ref, str) else ""
        line = _yaml_ref_line(data, ref) if where else None
        if line is None:
            raise
        raise SpecError(exc.message.replace(where, f"{where} (line {line})", 1),
                        exc.code) from None


def _yaml_ref_line(data: str | bytes | bytearray, ref: str) -> int | None:
    """The line of the first ``$ref: <ref>`` of a YAML text (error messages only; None for
    JSON, which has no lines worth naming when minified)."""
    text = decode_text(data)
    if text.lstrip()[:1] in ("{", "["):
        return None
    pattern = r"""["']?\$ref["']?\s*:\s*["']?""" + re.escape(ref) + r"""["']?\s*(?:[,}#]|$)"""
    match = re.search(pattern, text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None
