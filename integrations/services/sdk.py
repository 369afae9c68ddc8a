"""The selected operations of an integration with an SDK snippet each (pages and API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import openapi
from ..models import WorkspaceIntegration


@dataclass
class OperationView:
    key: str
    method: str
    path: str
    operation_id: str
    summary: str
    tags: list[str]
    snippet: str
    params: dict[str, Any] = field(default_factory=dict)


def operation_views(integration: WorkspaceIntegration) -> list[OperationView]:
    """The selected operations with an SDK snippet each, from the stored sub-document."""
    from ..snippets import call_params, render_call

    doc = integration.operations_doc or {}
    listed = {}
    try:
        listed = {op.key: op for op in openapi.list_operations(doc)}
    except openapi.SpecError:
        pass
    out = []
    for key in integration.selected_keys:
        op = listed.get(key)
        method, _, path = key.partition(":")
        try:
            params = call_params(doc, key)
        except openapi.SpecError:
            params = {}
        out.append(OperationView(
            key=key, method=method, path=path,
            operation_id=(op.operation_id or "") if op else "",
            summary=(op.summary or "") if op else "", tags=op.tags if op else [],
            snippet=render_call(integration.slug, key, params), params=params))
    return out
