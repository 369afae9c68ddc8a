"""SDK call snippets for the selected operations, from the stored sub-document.

``client.integrations.custom.call("slug", "get:/contacts/{id}", {pathParams, queryParams,
payload})``: parameter skeletons come from the operation's schemas (refs followed inside the
sub-document, recursion and size bounded), preferring examples, defaults and enums.
"""

from __future__ import annotations

import json
from typing import Any

from . import openapi

MAX_DEPTH = 4
MAX_PROPERTIES = 8
MAX_OPTIONAL_QUERY = 3
_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "12:00:00",
    "email": "user@example.com",
    "uuid": "00000000-0000-0000-0000-000000000000",
    "uri": "https://example.com",
    "url": "https://example.com",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "binary": "<file contents>",
    "byte": "<base64>",
    "password": "<password>",
}


def _small(value: Any) -> bool:
    return len(json.dumps(value, default=str)) <= 200


def skeleton(schema: Any, doc: Any, depth: int = 0, seen: frozenset[str] = frozenset()) -> Any:
    """A plausible example value for ``schema``."""
    if not isinstance(schema, dict):
        return "string"
    ref = schema.get("$ref")
    if isinstance(ref, str):
        if ref in seen or depth > MAX_DEPTH:
            return {}
        return skeleton(openapi.resolve_ref(doc, ref), doc, depth, seen | {ref})
    for key in ("example", "default"):
        if key in schema and _small(schema[key]):
            return schema[key]
    examples = schema.get("examples")
    if isinstance(examples, list) and examples and _small(examples[0]):
        return examples[0]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if "const" in schema and _small(schema["const"]):
        return schema["const"]
    for combinator in ("oneOf", "anyOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            return skeleton(options[0], doc, depth + 1, seen)
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and all_of:
        merged: dict[str, Any] = {}
        for part in all_of:
            value = skeleton(part, doc, depth + 1, seen)
            if isinstance(value, dict):
                merged.update(value)
        if merged or "properties" not in schema:
            return merged
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or (kind is None and isinstance(schema.get("properties"), dict)):
        if depth >= MAX_DEPTH:
            return {}
        props = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
        required = [p for p in schema.get("required") or [] if isinstance(p, str) and p in props]
        names = required + [p for p in props if p not in required]
        return {name: skeleton(props[name], doc, depth + 1, seen)
                for name in names[:max(MAX_PROPERTIES, len(required))]}
    if kind == "array":
        if depth >= MAX_DEPTH:
            return []
        return [skeleton(schema.get("items", {}), doc, depth + 1, seen)]
    if kind == "integer" or kind == "number":
        return 0
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    fmt = schema.get("format")
    return _FORMATS.get(fmt, "string") if isinstance(fmt, str) else "string"


def call_params(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """{"pathParams": ..., "queryParams": ..., "payload": ...} for one operation (only the
    parts it has). Required query parameters come first, then a few optional ones."""
    schemas = openapi.operation_schemas(doc, key)
    params: dict[str, Any] = {}
    if schemas.path_params:
        params["pathParams"] = {p.name: str(skeleton(p.schema, doc))
                                for p in schemas.path_params}
    query = [p for p in schemas.query_params if p.required]
    query += [p for p in schemas.query_params if not p.required][:MAX_OPTIONAL_QUERY]
    if query:
        params["queryParams"] = {p.name: skeleton(p.schema, doc) for p in query}
    if schemas.body is not None and schemas.body.schema is not None:
        params["payload"] = skeleton(schemas.body.schema, doc)
    return params


def render_call(slug: str, key: str, params: dict[str, Any]) -> str:
    args = f"{json.dumps(slug)}, {json.dumps(key)}"
    if params:
        body = json.dumps(params, indent=2, ensure_ascii=False, default=str)
        args += ", " + body
    return f"const result = await client.integrations.custom.call({args});"
