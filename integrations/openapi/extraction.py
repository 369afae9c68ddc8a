"""A minimal sub-document holding the selected operations and everything they reference
(``extract_operations``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .limits import (
    EXTRACT_KEY,
    MAX_SELECTED_OPERATIONS,
)
from .model import (
    SpecError,
    _truncate,
)
from .operations import (
    _iter_operations,
)
from .pointers import _walk_tokens
from .refs import (
    _OBJ,
    _collect_refs,
    _mode_at,
    _Resolver,
)
from .versions import spec_family

_COPIED_TOP_LEVEL = (
    "openapi",
    "swagger",
    "info",
    "jsonSchemaDialect",
    "servers",
    "host",
    "basePath",
    "schemes",
    "consumes",
    "produces",
    "security",
)
_COPIED_PATH_ITEM = ("summary", "description", "servers", "parameters")


def _security_names(requirements: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(requirements, list):
        for requirement in requirements:
            if isinstance(requirement, dict):
                names.update(k for k in requirement if isinstance(k, str))
    return names


def _closure(doc: Any, roots: list[Any], extra: list[list[str]]) -> list[list[str]]:
    """Pointer tokens of everything transitively referenced from ``roots`` (and the ``extra``
    pointers). A pointer that crosses an array keeps the whole array (indexes stay valid)."""
    resolver = _Resolver(doc)
    kept: dict[tuple[str, ...], list[str]] = {}
    pending: list[tuple[Any, int | None]] = [(root, _OBJ) for root in roots]
    queue: list[list[str]] = list(extra)
    while pending or queue:
        while pending:
            for ref in _collect_refs(*pending.pop()):
                _value, tokens = resolver.lookup(ref)
                queue.append(tokens)
        while queue:
            tokens = queue.pop()
            node = doc
            for index, token in enumerate(tokens):
                if isinstance(node, list):
                    tokens = tokens[:index]
                    break
                if not isinstance(node, dict) or token not in node:
                    break
                node = node[token]
            key = tuple(tokens)
            if key in kept or not tokens:
                continue
            kept[key] = tokens
            pending.append((_walk_tokens(doc, tokens), _mode_at(doc, tokens)))
    return sorted(kept.values(), key=len)


def _graft(sub: dict[str, Any], doc: Any, tokens: list[str], owned: set[int]) -> None:
    """Copy ``doc`` at ``tokens`` into ``sub`` at the same place without mutating anything
    that ``sub`` shares with ``doc``."""
    sub_node: Any = sub
    doc_node: Any = doc
    for token in tokens[:-1]:
        doc_node = doc_node[token]
        child = sub_node.get(token)
        if child is doc_node:
            return  # the whole subtree is already there
        if not isinstance(child, dict):
            child = {}
            sub_node[token] = child
            owned.add(id(child))
        elif id(child) not in owned:
            child = dict(child)
            sub_node[token] = child
            owned.add(id(child))
        sub_node = child
    last = tokens[-1]
    sub_node[last] = doc_node[last]


def extract_operations(doc: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """A minimal sub-document with the selected operations (path-item/operation refs followed,
    other refs kept) plus everything they transitively reference, at the same JSON pointers,
    so the refs still resolve. Shares unchanged objects with ``doc`` (copy before mutating)."""
    wanted = list(dict.fromkeys(keys))
    if len(wanted) > MAX_SELECTED_OPERATIONS:
        raise SpecError(
            f"Select at most {MAX_SELECTED_OPERATIONS} operations ({len(wanted)} selected).",
            "too_many_operations",
        )
    family, _version = spec_family(doc)
    resolver = _Resolver(doc)
    found = {raw.key: raw for raw in _iter_operations(doc, family, resolver)}
    missing = [k for k in wanted if k not in found]
    if missing:
        raise SpecError(
            "Operation not found in the spec: " + ", ".join(_truncate(k, 100) for k in missing[:3]),
            "unknown_operation",
        )
    sub: dict[str, Any] = {k: doc[k] for k in _COPIED_TOP_LEVEL if k in doc}
    paths: dict[str, dict[str, Any]] = {}
    security = _security_names(doc.get("security"))
    for key in wanted:
        raw = found[key]
        item = paths.get(raw.path)
        if item is None:
            item = {k: raw.path_item[k] for k in _COPIED_PATH_ITEM if k in raw.path_item}
            paths[raw.path] = item
        item[raw.method] = raw.op
        security |= _security_names(raw.op.get("security"))
    sub["paths"] = paths
    if family == "2.0":
        schemes, prefix = doc.get("securityDefinitions"), ["securityDefinitions"]
    else:
        components = doc.get("components")
        schemes = components.get("securitySchemes") if isinstance(components, dict) else None
        prefix = ["components", "securitySchemes"]
    extra: list[list[str]] = []
    if isinstance(schemes, dict):
        extra = [[*prefix, name] for name in sorted(security) if name in schemes]
    owned = {id(sub), id(paths), *map(id, paths.values())}
    for tokens in _closure(doc, [sub], extra):
        if tokens[0] in _COPIED_TOP_LEVEL:
            continue  # already copied whole
        _graft(sub, doc, tokens, owned)
    sub[EXTRACT_KEY] = {"operations": wanted}
    return sub
