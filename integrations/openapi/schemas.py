"""Request schemas (parameters and body) of one operation, with validators that resolve refs
against the sub-document (``operation_schemas``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .limits import (
    SPEC_URI,
)
from .model import (
    BodySchema,
    OperationSchemas,
    ParamSchema,
    SpecError,
    _truncate,
)
from .operations import (
    _iter_operations,
)
from .pointers import _pointer
from .refs import (
    _Resolver,
)
from .versions import spec_family

_V2_SCHEMA_KEYS = (
    "type",
    "format",
    "items",
    "default",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "enum",
    "multipleOf",
)


def _v2_schema(param: Mapping[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    for key in _V2_SCHEMA_KEYS:
        if key in param:
            value = param[key]
            if key == "items" and isinstance(value, dict):
                value = _v2_schema(value)
            schema[key] = value
    if schema.get("type") == "file":
        schema = {"type": "string", "format": "binary"}
    return schema


def _pick_media_type(content_types: list[str]) -> str | None:
    if not content_types:
        return None
    for media in content_types:
        if media.split(";")[0].strip().lower() == "application/json":
            return media
    for media in content_types:
        base = media.split(";")[0].strip().lower()
        if base.endswith("+json") or base.endswith("/json"):
            return media
    return content_types[0]


def operation_schemas(subdoc: Mapping[str, Any], key: str) -> OperationSchemas:
    """Path/query/header/cookie parameters and the request body schema of one operation.

    Schemas keep their ``$ref``s; ``OperationSchemas.validator(item)`` (or ``ref_schema`` +
    ``registry``) validates values with refs resolved against the sub-document."""
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4, DRAFT202012

    family, _version = spec_family(subdoc)
    resolver = _Resolver(subdoc)
    raw = next((r for r in _iter_operations(subdoc, family, resolver) if r.key == key), None)
    if raw is None:
        raise SpecError(
            f"Operation not found in the spec: {_truncate(key, 100)}", "unknown_operation"
        )
    groups: dict[str, list[ParamSchema]] = {"path": [], "query": [], "header": [], "cookie": []}
    body: BodySchema | None = None
    form: list[tuple[dict[str, Any], list[str]]] = []
    for param, tokens in raw.params:
        where = param.get("in")
        name = param.get("name")
        if not isinstance(name, str):
            continue
        required = param.get("required") is True or where == "path"
        if family == "2.0":
            if where == "body":
                consumes = raw.op.get("consumes") or subdoc.get("consumes") or []
                types = [c for c in consumes if isinstance(c, str)] or ["application/json"]
                body = BodySchema(
                    content_type=_pick_media_type(types),
                    content_types=types,
                    required=param.get("required") is True,
                    schema=param.get("schema", {}),
                    pointer=_pointer([*tokens, "schema"]) if "schema" in param else None,
                )
                continue
            if where == "formData":
                form.append((param, tokens))
                continue
            schema: Any = _v2_schema(param)
            pointer = None
        else:
            schema, pointer = None, None
            if "schema" in param:
                schema, pointer = param["schema"], _pointer([*tokens, "schema"])
            elif isinstance(param.get("content"), dict) and param["content"]:
                media = next(iter(param["content"]))
                media_obj = param["content"][media]
                if isinstance(media_obj, dict) and "schema" in media_obj:
                    schema = media_obj["schema"]
                    pointer = _pointer([*tokens, "content", media, "schema"])
            if schema is None:
                schema = {}
        if where in groups:
            groups[where].append(ParamSchema(name, where, required, schema, pointer, param))
    if form:
        properties = {p["name"]: _v2_schema(p) for p, _t in form}
        required_names = [p["name"] for p, _t in form if p.get("required") is True]
        consumes = raw.op.get("consumes") or subdoc.get("consumes") or []
        types = [c for c in consumes if isinstance(c, str) and "form" in c] or [
            "application/x-www-form-urlencoded"
        ]
        form_schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required_names:
            form_schema["required"] = required_names
        body = BodySchema(_pick_media_type(types), types, bool(required_names), form_schema, None)
    if family != "2.0" and "requestBody" in raw.op:
        request_body, rb_tokens = resolver.follow(
            raw.op["requestBody"], [*raw.op_tokens, "requestBody"]
        )
        if isinstance(request_body, dict):
            content = request_body.get("content")
            content = content if isinstance(content, dict) else {}
            types = list(content)
            media = _pick_media_type(types)
            schema, pointer = None, None
            if media is not None and isinstance(content[media], dict):
                if "schema" in content[media]:
                    schema = content[media]["schema"]
                    pointer = _pointer([*rb_tokens, "content", media, "schema"])
            body = BodySchema(media, types, request_body.get("required") is True, schema, pointer)
    specification = DRAFT202012 if family == "3.1" else DRAFT4
    registry = Registry().with_resource(
        SPEC_URI, Resource(contents=subdoc, specification=specification)
    )
    return OperationSchemas(
        key=key,
        spec_family=family,
        path_params=groups["path"],
        query_params=groups["query"],
        header_params=groups["header"],
        cookie_params=groups["cookie"],
        body=body,
        registry=registry,
    )
