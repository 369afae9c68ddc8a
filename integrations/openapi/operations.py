"""Step 3, the operation list: ``method:path`` keys from the raw document, refs followed on
demand (``list_operations``, ``spec_info``)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .limits import (
    METHODS_V2,
    METHODS_V3,
)
from .model import (
    Operation,
    SpecInfo,
)
from .refs import (
    _Resolver,
)
from .versions import _version_text, spec_family


@dataclass
class _RawOperation:
    key: str
    method: str
    path: str
    path_item: dict[str, Any]
    op: dict[str, Any]
    op_tokens: list[str]  # where ``op`` lives (after following refs)
    #: merged parameters with the tokens where each (resolved) parameter lives
    params: list[tuple[dict[str, Any], list[str]]]
    parameters: list[dict[str, Any]]


def _merge_params(
    resolver: _Resolver, groups: list[tuple[Any, list[str]]]
) -> list[tuple[dict[str, Any], list[str]]]:
    merged: dict[tuple[Any, Any], tuple[dict[str, Any], list[str]]] = {}
    for params, tokens in groups:
        if not isinstance(params, list):
            continue
        for index, raw in enumerate(params):
            param, ptokens = resolver.follow(raw, [*tokens, str(index)])
            if not isinstance(param, dict):
                continue
            name, where = param.get("name"), param.get("in")
            merged[(name, where)] = (param, ptokens)
    return list(merged.values())


def _iter_operations(
    doc: Mapping[str, Any], family: str, resolver: _Resolver
) -> Iterator[_RawOperation]:
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        return
    methods = METHODS_V2 if family == "2.0" else METHODS_V3
    for path, raw_item in paths.items():
        if path.startswith("x-"):
            continue
        item, item_tokens = resolver.merged(raw_item, ["paths", path])
        if not isinstance(item, dict):
            continue
        path_params = item.get("parameters")
        for method in item:
            if method not in methods:
                continue
            op, op_tokens = resolver.merged(item[method], [*item_tokens, method])
            if not isinstance(op, dict):
                continue
            params = _merge_params(
                resolver,
                [
                    (path_params, [*item_tokens, "parameters"]),
                    (op.get("parameters"), [*op_tokens, "parameters"]),
                ],
            )
            yield _RawOperation(
                key=f"{method}:{path}",
                method=method,
                path=path,
                path_item=item,
                op=op,
                op_tokens=op_tokens,
                params=params,
                parameters=[p for p, _t in params],
            )


_MARKUP = re.compile(r"<[^>]{0,200}>")
_SPACE_BEFORE_MARK = re.compile(r" ([,.;:!?])")  # "<a>Connect</a>, you" loses its tag
_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
SUMMARY_FROM_DESCRIPTION = 120


def description_line(description: Any) -> str | None:
    """A stand-in summary for an operation that has none (Stripe's 417 have only a
    ``description``, often HTML): its first sentence, markup and extra spaces dropped, at most
    ``SUMMARY_FROM_DESCRIPTION`` characters."""
    if not isinstance(description, str):
        return None
    text = _SPACE_BEFORE_MARK.sub(r"\1", " ".join(_MARKUP.sub(" ", description[:2000]).split()))
    if not text:
        return None
    text = _SENTENCE_END.split(text, maxsplit=1)[0]
    if len(text) > SUMMARY_FROM_DESCRIPTION:
        text = text[: SUMMARY_FROM_DESCRIPTION - 1].rstrip() + "…"
    return text


def _operation(raw: _RawOperation) -> Operation:
    op = raw.op
    tags = op.get("tags")
    operation_id = op.get("operationId")
    summary = op.get("summary")
    if not (isinstance(summary, str) and summary.strip()):
        summary = description_line(op.get("description"))
    return Operation(
        key=raw.key,
        method=raw.method,
        path=raw.path,
        operation_id=operation_id if isinstance(operation_id, str) else None,
        summary=summary if isinstance(summary, str) else None,
        tags=[t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [],
        deprecated=op.get("deprecated") is True,
        parameters=raw.parameters,
    )


def list_operations(doc: Mapping[str, Any]) -> list[Operation]:
    """All operations, keyed ``method:path`` (document order). Webhooks are not listed."""
    family, _version = spec_family(doc)
    resolver = _Resolver(doc)
    return [_operation(raw) for raw in _iter_operations(doc, family, resolver)]


def spec_info(doc: Mapping[str, Any], operations: list[Operation] | None = None) -> SpecInfo:
    family, version = spec_family(doc)
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    title = info.get("title")
    api_version = info.get("version")
    if operations is None:
        operations = list_operations(doc)
    return SpecInfo(
        title=title.strip() if isinstance(title, str) and title.strip() else "Untitled API",
        version="" if api_version is None else _version_text(api_version),
        spec_version=version,
        spec_family=family,
        operation_count=len(operations),
    )
