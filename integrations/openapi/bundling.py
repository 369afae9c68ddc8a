"""Multi-file specs made one document, fetching only from the root file's origin (``bundle``)."""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from .limits import (
    BUNDLE_KEY,
    BUNDLE_MAX_BYTES,
    BUNDLE_MAX_FILES,
    METHODS_V3,
)
from .loading import (
    load_document,
)
from .model import (
    SpecError,
    _truncate,
    too_large_error,
)
from .pointers import _escape, _split_pointer, _walk_tokens
from .refs import (
    _EXAMPLE,
    _NAMES,
    _NAMES_X,
    _OBJ,
    _child_mode,
    _collect_refs,
    _ref_sites,
    _ref_where,
    _Resolver,
)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = {"http": 80, "https": 443}.get(scheme)
    return scheme, (parts.hostname or "").lower(), port


def bundle(
    root_doc: dict[str, Any],
    base_url: str,
    fetch: Callable[[str], str | bytes],
    *,
    max_files: int = BUNDLE_MAX_FILES,
    max_total_bytes: int = BUNDLE_MAX_BYTES,
) -> dict[str, Any]:
    """Turn a multi-file spec into one document.

    ``root_doc`` is the loaded root file, found at ``base_url``. Every other file referenced
    (transitively) is fetched with ``fetch(absolute_url) -> text`` - same scheme, host and port
    as ``base_url`` only - and stored under ``x-bundled`` (key: its path relative to the root
    file's folder); refs are rewritten to internal ``#/...`` pointers. Operations given as a
    ref and refs to plain strings (e.g. a tag description) are inlined. ``root_doc`` is not
    modified. Limits: ``max_files`` (root included) and ``max_total_bytes`` fetched."""
    base, _fragment = urldefrag(base_url)
    origin = _origin(base)
    if not origin[0] or not origin[1]:
        raise SpecError("The spec URL must be an absolute http(s) URL to bundle it.", "bad_url")
    if BUNDLE_KEY in root_doc:
        raise SpecError(f"The spec already has a '{BUNDLE_KEY}' key.", "invalid_spec")
    files: dict[str, Any] = {base: root_doc}
    queue = [base]
    total = 0
    while queue:
        url = queue.pop(0)
        sites = _ref_sites(files[url])
        for ref in sorted(sites):
            if ref.startswith("#"):
                continue
            target, _frag = urldefrag(urljoin(url, ref))
            if target in files:
                continue
            where = _ref_where(sites, ref) + ("" if url == base else f" of {_truncate(url, 200)}")
            if _origin(target) != origin:
                raise SpecError(
                    "The spec refers to a file on another site, which is not allowed: "
                    f"{_truncate(ref, 200)} (the $ref{where})",
                    "external_ref",
                )
            if len(files) >= max_files:
                raise SpecError(
                    f"The spec is split over more than {max_files} files; bundle it into one "
                    "file (for example with `redocly bundle`) and import that.",
                    "too_many_files",
                )
            try:
                text = fetch(target)
            except SpecError as exc:
                raise SpecError(f"{exc.message} (fetched for the $ref{where})", exc.code) from None
            except Exception as exc:  # the injected fetcher's own errors
                raise SpecError(
                    f"Could not fetch {_truncate(target, 200)} (referenced by the $ref{where}): "
                    f"{type(exc).__name__}: {_truncate(str(exc), 200)}",
                    "fetch_failed",
                ) from None
            total += len(text) if isinstance(text, bytes) else len(text.encode("utf-8"))
            if total > max_total_bytes:
                raise too_large_error(total, max_total_bytes)
            try:
                files[target] = load_document(text, require_object=False)
            except SpecError as exc:
                raise SpecError(f"In {_truncate(target, 200)}: {exc.message}", exc.code) from None
            queue.append(target)
    if len(files) == 1:
        return root_doc

    base_dir = posixpath.dirname(urlsplit(base).path) or "/"

    def file_key(url: str) -> str:
        parts = urlsplit(url)
        key = posixpath.relpath(parts.path or "/", base_dir)
        return f"{key}?{parts.query}" if parts.query else key

    keys = {url: file_key(url) for url in files if url != base}

    def target_of(url: str, ref: str) -> tuple[str, str, Any]:
        target, fragment = urldefrag(urljoin(url, ref))
        if fragment and not fragment.startswith("/"):
            raise SpecError(
                f"Reference {_truncate(ref, 200)} uses an anchor, not a JSON pointer.",
                "unresolved_ref",
            )
        value: Any = None
        for candidate in dict.fromkeys([fragment, unquote(fragment)]):
            try:
                value = _walk_tokens(files[target], _split_pointer(candidate))
            except (KeyError, IndexError, TypeError):
                continue
            fragment = candidate
            break
        else:
            raise SpecError(
                f"Reference {_truncate(ref, 200)} (in {_truncate(url, 200)}) does not point "
                "to anything.",
                "unresolved_ref",
            )
        if target == base:
            return "#" + fragment, fragment, value
        return "#/" + _escape(BUNDLE_KEY) + "/" + _escape(keys[target]) + fragment, fragment, value

    rewritten: dict[str, Any] = {url: _rewrite(doc, url, target_of) for url, doc in files.items()}
    out = rewritten[base]
    out[BUNDLE_KEY] = {keys[url]: rewritten[url] for url in files if url != base}
    _inline_operation_refs(out)
    _prune_bundled(out)
    return out


def _rewrite(root: Any, url: str, target_of: Callable[[str, str], tuple[str, str, Any]]) -> Any:
    """Copy ``root`` rewriting every ``$ref`` (refs to scalar values are inlined)."""

    def convert(value: Any, mode: int | None) -> Any:
        if mode is None:
            return value  # data: copied as is
        if isinstance(value, dict):
            ref = value.get("$ref") if mode in (_OBJ, _EXAMPLE) else None
            if isinstance(ref, str):
                new_ref, _fragment, target = target_of(url, ref)
                if not isinstance(target, dict | list):
                    return target
                value = {k: (new_ref if k == "$ref" else v) for k, v in value.items()}
            if mode == _EXAMPLE:
                return dict(value)
            return {
                k: (v if ref is not None and k == "$ref" else convert(v, _child_mode(mode, k, v)))
                for k, v in value.items()
            }
        if isinstance(value, list):
            if mode not in (_OBJ, _NAMES, _NAMES_X):
                return value
            return [convert(v, _OBJ) for v in value]
        return value

    return convert(root, _OBJ)


def _inline_operation_refs(doc: dict[str, Any]) -> None:
    """Operations may not be ``$ref``s in OpenAPI; multi-file specs do it anyway."""
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        return
    resolver = _Resolver(doc)
    for path, item in paths.items():
        if path.startswith("x-") or not isinstance(item, dict):
            continue
        if isinstance(item.get("$ref"), str) and item["$ref"].startswith(f"#/{BUNDLE_KEY}/"):
            target, _tokens = resolver.merged(item, [])
            if isinstance(target, dict):
                paths[path] = item = dict(target)
        for method in METHODS_V3:
            op = item.get(method)
            if isinstance(op, dict) and isinstance(op.get("$ref"), str):
                target, _tokens = resolver.merged(op, [])
                if isinstance(target, dict):
                    item[method] = target


def _prune_bundled(doc: dict[str, Any]) -> None:
    """Drop bundled files nothing refers to any more (e.g. inlined operations)."""
    bundled = doc[BUNDLE_KEY]
    prefix = f"#/{_escape(BUNDLE_KEY)}/"
    reachable: set[str] = set()
    pending = [{k: v for k, v in doc.items() if k != BUNDLE_KEY}]
    while pending:
        for ref in _collect_refs(pending.pop()):
            if not ref.startswith(prefix):
                continue
            token = ref[len(prefix) :].split("/", 1)[0]
            key = token.replace("~1", "/").replace("~0", "~")
            if key in bundled and key not in reachable:
                reachable.add(key)
                pending.append(bundled[key])
    doc[BUNDLE_KEY] = {k: v for k, v in bundled.items() if k in reachable}
    if not doc[BUNDLE_KEY]:
        del doc[BUNDLE_KEY]
