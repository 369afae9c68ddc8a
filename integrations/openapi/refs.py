"""``$ref``s: where a ``$ref`` is a JSON Reference (the grammar-aware walk ``_iter_refs``),
resolution with a cache (``_Resolver``), and the check that every reference is internal,
resolves and does not loop (``_check_refs``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote

from .limits import (
    _SCHEME_RE,
    BUNDLE_KEY,
)
from .model import (
    SpecError,
    _truncate,
)
from .pointers import _link_pointer, _split_pointer, _walk_tokens


def resolve_ref(doc: Any, ref: str) -> Any:
    """The target of an internal ``$ref`` (``#/...``), not followed further; None when it is
    external or does not resolve. For lenient readers of a stored document (snippets, the
    proxy's coercion hints); the import's checks use ``_Resolver``."""
    if not ref.startswith("#"):
        return None
    try:
        return _walk_tokens(doc, _split_pointer(ref[1:]))
    except (KeyError, IndexError, TypeError):
        return None


def _is_external(ref: str) -> bool:
    return not ref.startswith("#")


def _external_ref_error(ref: str) -> SpecError:
    shown = _truncate(ref, 200)
    if _SCHEME_RE.match(ref) and not re.match(r"^[A-Za-z]:[\\/]", ref):
        return SpecError(
            "Only references inside the spec (#/...) are allowed; found a reference to an "
            f"external URL: {shown}",
            "external_ref",
        )
    return SpecError(
        f"Pasted specs must be one document; found a reference to another file: {shown}",
        "external_ref",
    )


class _Resolver:
    """JSON-pointer resolution of internal refs with a cache (pure pointers: the path of a
    pointer is not itself dereferenced)."""

    def __init__(self, doc: Any) -> None:
        self.doc = doc
        self._cache: dict[str, tuple[Any, list[str]]] = {}

    def lookup(self, ref: str) -> tuple[Any, list[str]]:
        """Target of one ``$ref`` string (not followed further) and its pointer tokens."""
        hit = self._cache.get(ref)
        if hit is not None:
            return hit
        if not ref.startswith("#"):
            raise _external_ref_error(ref)
        fragment = ref[1:]
        try:
            tokens = _split_pointer(fragment)
            value = _walk_tokens(self.doc, tokens)
        except (KeyError, IndexError, TypeError):
            if "%" not in fragment:
                raise SpecError(_unresolved_message([ref]), "unresolved_ref") from None
            try:  # a URI fragment may be percent-encoded (RFC 6901, section 6)
                tokens = _split_pointer(unquote(fragment))
                value = _walk_tokens(self.doc, tokens)
            except (KeyError, IndexError, TypeError):
                raise SpecError(_unresolved_message([ref]), "unresolved_ref") from None
        self._cache[ref] = (value, tokens)
        return value, tokens

    def follow(self, obj: Any, tokens: list[str]) -> tuple[Any, list[str]]:
        """Follow ``$ref`` chains from ``obj`` (found at ``tokens``) to a non-ref value."""
        seen: list[str] = []
        while isinstance(obj, dict) and isinstance(obj.get("$ref"), str):
            ref = obj["$ref"]
            if ref in seen:
                raise SpecError(_loop_message([*seen, ref]), "ref_loop")
            seen.append(ref)
            obj, tokens = self.lookup(ref)
        return obj, tokens

    def merged(self, obj: Any, tokens: list[str]) -> tuple[Any, list[str]]:
        """Like ``follow`` but keep sibling keys of the ref object (path items, operations)."""
        if not (isinstance(obj, dict) and isinstance(obj.get("$ref"), str)):
            return obj, tokens
        target, target_tokens = self.follow(obj, tokens)
        if len(obj) > 1 and isinstance(target, dict):
            target = {**target, **{k: v for k, v in obj.items() if k != "$ref"}}
        return target, target_tokens


def _unresolved_message(refs: list[str]) -> str:
    shown = ", ".join(_truncate(r, 120) for r in refs[:3])
    more = f" and {len(refs) - 3} more" if len(refs) > 3 else ""
    if len(refs) == 1:
        return f"Reference {shown} does not point to anything in the spec."
    return f"{len(refs)} references do not point to anything in the spec: {shown}{more}."


def _loop_message(chain: list[str]) -> str:
    return "References loop on each other: " + " -> ".join(_truncate(r, 100) for r in chain[:6])


# Where a ``$ref`` key is a reference. The walk tracks what kind of node it is in:
#   _OBJ      an OpenAPI / JSON Schema object: its own "$ref" is a reference;
#   _NAMES    a map keyed by names (properties, definitions, components.schemas...): a key
#             "$ref" (or "example", "x-foo"...) is a name, each value an _OBJ;
#   _NAMES_X  the same, but "x-" keys are extensions (responses, paths-like maps);
#   _EXAMPLES an Example map (name -> Example Object): only an entry's own "$ref" counts;
#   _EXAMPLE  one Example Object: its "$ref" is a reference, everything else is data.
# Data (example, examples[], examples.*.value, default, enum, const, x-* extensions) is not
# walked at all: a "$ref" in there is a value, not a reference.
_OBJ, _NAMES, _NAMES_X, _EXAMPLES, _EXAMPLE = range(5)
_DATA_KEYS = frozenset({"example", "default", "enum", "const"})
_NAME_MAP_KEYS = frozenset({
    "properties", "patternProperties", "definitions", "$defs", "dependentSchemas",
    "dependencies", "schemas", "parameters", "requestBodies", "headers", "securitySchemes",
    "securityDefinitions", "links", "callbacks", "pathItems", "webhooks", "encoding",
})
_NAMES_X_KEYS = frozenset({"responses"})


def _child_mode(mode: int, key: str, value: Any) -> int | None:
    """The kind of ``value`` found under ``key`` of a dict of kind ``mode``; None for data."""
    if mode == _OBJ:
        if key == "$ref" or key in _DATA_KEYS:
            return None
        if key.startswith("x-"):
            return _NAMES if key == BUNDLE_KEY else None
        if key == "examples":
            return _EXAMPLES if isinstance(value, dict) else None
        if key in _NAME_MAP_KEYS:
            return _NAMES
        if key in _NAMES_X_KEYS:
            return _NAMES_X
        return _OBJ
    if mode == _NAMES:
        return _OBJ
    if mode == _NAMES_X:
        return None if key.startswith("x-") else _OBJ
    if mode == _EXAMPLES:
        return _EXAMPLE
    return None  # inside an Example Object


def _mode_at(doc: Any, tokens: Iterable[str]) -> int | None:
    """The kind of the node at ``tokens`` of ``doc`` (None: it is data)."""
    mode: int | None = _OBJ
    node = doc
    for token in tokens:
        if mode is None:
            return None
        if isinstance(node, dict):
            node = node.get(token)
            mode = _child_mode(mode, token, node)
        elif isinstance(node, list):
            if mode not in (_OBJ, _NAMES, _NAMES_X):
                return None
            try:
                node = node[int(token)]
            except (ValueError, IndexError):
                return mode
            mode = _OBJ
        else:
            return mode
    return mode


def _iter_refs(root: Any, mode: int | None = _OBJ, link: Any = None) -> Iterator[tuple[str, Any]]:
    """``(ref, link)`` for every ``$ref`` of ``root`` that is a JSON Reference (see the modes
    above); ``link`` is a (parent link, key) chain (``_link_pointer`` makes it a pointer) of
    the object holding the ``$ref``, relative to ``root`` unless a starting link is given."""
    if mode is None:
        return
    stack: list[tuple[Any, int, Any]] = [(root, mode, link)]
    child_mode = _child_mode
    while stack:
        obj, mode, link = stack.pop()
        if type(obj) is dict:
            if mode == _OBJ or mode == _EXAMPLE:
                ref = obj.get("$ref")
                if type(ref) is str:
                    yield ref, link
                if mode == _EXAMPLE:
                    continue
            for key, value in obj.items():
                if type(value) is dict or type(value) is list:
                    sub = child_mode(mode, key, value)
                    if sub is not None:
                        stack.append((value, sub, (link, key)))
        elif type(obj) is list:
            if mode == _OBJ or mode == _NAMES or mode == _NAMES_X:
                for index, value in enumerate(obj):
                    if type(value) is dict or type(value) is list:
                        stack.append((value, _OBJ, (link, index)))


def _ref_sites(root: Any) -> dict[str, Any]:
    """Each JSON Reference of ``root`` with the link of the first object holding it."""
    sites: dict[str, Any] = {}
    for ref, link in _iter_refs(root):
        sites.setdefault(ref, link)
    return sites


def _collect_refs(root: Any, mode: int | None = _OBJ) -> set[str]:
    return {ref for ref, _link in _iter_refs(root, mode)}


def find_external_refs(doc: Any) -> set[str]:
    """Every ``$ref`` that does not start with ``#`` (other files, URLs)."""
    return {ref for ref in _collect_refs(doc) if _is_external(ref)}


def _ref_where(sites: Mapping[str, Any] | set[str], ref: str) -> str:
    """" at /json/pointer/$ref" of the first ``$ref`` holding ``ref`` ("" when unknown)."""
    if not isinstance(sites, Mapping) or ref not in sites:
        return ""
    return f" at {_truncate(_link_pointer((sites[ref], '$ref')), 200)}"


def _check_refs(doc: Any, refs: Mapping[str, Any] | set[str]) -> _Resolver:
    """``refs``: the JSON References of ``doc``, ideally as ``_ref_sites`` gives them (each
    with where it is, so that the messages can say it)."""
    external = sorted(ref for ref in refs if _is_external(ref))
    if external:
        relative = [r for r in external if not _SCHEME_RE.match(r)]
        first = (relative or external)[0]
        error = _external_ref_error(first)
        error = SpecError(error.message + _ref_where(refs, first), error.code)
        error.ref = first  # type: ignore[attr-defined]
        raise error
    resolver = _Resolver(doc)
    dangling: list[str] = []
    for ref in sorted(refs):
        try:
            resolver.lookup(ref)
        except SpecError:
            dangling.append(ref)
    if dangling:
        message = _unresolved_message(dangling)
        if len(dangling) == 1:
            message = message[:-1] + _ref_where(refs, dangling[0]) + "."
        else:
            message += f" The first is{_ref_where(refs, dangling[0])}."
        error = SpecError(message, "unresolved_ref")
        error.ref = dangling[0]  # type: ignore[attr-defined]
        raise error
    # $ref -> $ref chains must end somewhere.
    done: set[str] = set()
    for ref in sorted(refs):
        chain: list[str] = []
        current = ref
        while current not in done:
            if current in chain:
                raise SpecError(
                    _loop_message(chain[chain.index(current) :] + [current]), "ref_loop"
                )
            chain.append(current)
            target, _tokens = resolver.lookup(current)
            if isinstance(target, dict) and isinstance(target.get("$ref"), str):
                current = target["$ref"]
            else:
                break
        done.update(chain)
    return resolver
