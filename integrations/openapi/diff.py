"""Operation fingerprints and the diff of two specs' operations (``diff_operations``)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

from .limits import (
    EXTRACT_KEY,
)
from .model import (
    OperationsDiff,
)
from .operations import (
    _iter_operations,
)
from .refs import (
    _collect_refs,
    _mode_at,
    _Resolver,
)
from .versions import spec_family


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def operation_fingerprints(doc: Mapping[str, Any]) -> dict[str, str]:
    """``key -> hash`` of each operation: the operation, its merged parameters, servers, and
    the JSON of everything it (transitively) references - refs are hashed, not inlined, so
    recursive schemas are fine and a change in a referenced schema changes the hash."""
    family, _version = spec_family(doc)
    resolver = _Resolver(doc)
    own_hash: dict[str, str] = {}
    direct: dict[str, set[str]] = {}

    def target_refs(ref: str) -> set[str]:
        refs = direct.get(ref)
        if refs is None:
            value, tokens = resolver.lookup(ref)
            own_hash[ref] = hashlib.sha256(_canonical(value).encode()).hexdigest()
            refs = direct[ref] = _collect_refs(value, _mode_at(doc, tokens))
        return refs

    result: dict[str, str] = {}
    for raw in _iter_operations(doc, family, resolver):
        servers = raw.op.get("servers", raw.path_item.get("servers"))
        body = {"op": raw.op, "parameters": raw.parameters, "servers": servers}
        seen: set[str] = set()
        stack = list(_collect_refs(body))
        while stack:
            ref = stack.pop()
            if ref in seen:
                continue
            seen.add(ref)
            stack.extend(target_refs(ref) - seen)
        body["refs"] = {ref: own_hash[ref] for ref in sorted(seen)}
        result[raw.key] = hashlib.sha256(_canonical(body).encode()).hexdigest()
    return result


def diff_operations(
    old: Mapping[str, Any], new_doc: Mapping[str, Any], selected_keys: Iterable[str]
) -> OperationsDiff:
    """Compare operations of ``old`` (a full spec or a sub-document from
    ``extract_operations``) with ``new_doc``."""
    selected = list(dict.fromkeys(selected_keys))
    old_fp = operation_fingerprints(old)
    new_fp = operation_fingerprints(new_doc)
    marker = old.get(EXTRACT_KEY)
    partial = isinstance(marker, dict) and isinstance(marker.get("operations"), list)
    if partial:
        extracted = set(marker["operations"])
        old_fp = {k: v for k, v in old_fp.items() if k in extracted}
        added: list[str] = []
    else:
        added = [k for k in new_fp if k not in old_fp]
    removed = [k for k in old_fp if k not in new_fp]
    changed = [k for k in old_fp if k in new_fp and old_fp[k] != new_fp[k]]
    gone = set(removed) | set(changed)
    affected = [k for k in selected if k in gone or (k not in new_fp)]
    return OperationsDiff(added, removed, changed, affected, partial)
