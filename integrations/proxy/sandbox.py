"""Sandbox mode: an app's custom-integration calls answered from the stored spec, never sent.

``App.sandbox_mode`` (set by workspace admins) makes the proxy run every check of a real call
up to the send (the integration and operation looked up, the parameters validated (400s
still happen), the rate limit and the bulkheads) and then answer here instead of the upstream:

- the response: the operation's first 2xx (200, then 201, then the lowest), its JSON media
  type (``application/json`` first, then any ``+json``);
- its body: the spec's own example when there is one (OpenAPI 3: the media type's
  ``example``, then the first of its ``examples``; Swagger 2: the response's ``examples`` for
  that media type; both: the schema's ``example``, or a 3.1 schema's ``examples[0]``);
  otherwise a value generated from the response schema by ``jsf`` (JSON Schema Faker);
- the envelope of a real call, ``{success, status_code, data}``, plus ``sandbox: true``.

Generation works on a copy of the schema made for it here (``_Shrinker``): ``$ref``s inlined
from the stored sub-document up to ``MAX_REF_DEPTH`` deep and ``MAX_NODES`` nodes (a deeper
reference is left out where the schema allows: an optional property, an ``anyOf`` branch, an
array item; else the value is null when the schema allows that), only generation keywords
kept (so none of jsf's own ``$provider``/``$state`` expressions, which it evaluates, and no
external reference it would fetch, can come from a spec), ``allOf`` merged, OpenAPI's
``nullable`` / draft-4 exclusive bounds rewritten, arrays at most ``MAX_ITEMS`` long, strings
at most ``MAX_STRING`` characters (a ``pattern`` repeating more than ``MAX_REPEAT`` times is
not used), optional properties only near the top. Every such change
only narrows the schema, so the value still fits the original; it is checked against the
operation's response schema (refs and all) with the validator the proxy uses, and a value that
does not fit is tried again with the next seed (``ATTEMPTS``), else ``data`` is null.

Generated values are deterministic (seeded from the integration and the operation) and cached
in this process per integration version and operation, so a sandbox call costs a dict lookup
after the first. Nothing here opens a socket, resolves a name or writes to the database.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import random
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .. import openapi, runtime
from ..openapi.limits import SPEC_URI

log = logging.getLogger(__name__)

MAX_REF_DEPTH = 3
MAX_REQUIRED_DEPTH = 12  # a required property's references are followed further
MAX_NODES = 1500
MAX_ITEMS = 2
MAX_STRING = 40
MAX_OPTIONAL_DEPTH = 1  # optional properties are generated down to this object depth
MAX_BYTES = 64 * 1024  # a generated value larger than this is refused (data: null)
ATTEMPTS = 4
_CACHE_ENTRIES = 1024
MAX_REPEAT = 100  # a pattern repeating more than this ({n}) is not used for generation
_REPEAT_COUNT = re.compile(r"\{\s*(\d{1,9})")

#: keywords passed on to the generator (anything else is dropped)
_NUMERIC_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")
_STRING_FORMATS = frozenset({
    "date-time", "date", "time", "email", "idn-email", "hostname", "idn-hostname", "ipv4",
    "ipv6", "uri", "iri", "uuid",
})
_JSON_TYPES = ("object", "array", "string", "integer", "number", "boolean")
_NO_ANSWER = object()
#: a required property no (merged) part describes; replaced when another ``allOf`` part does
_UNDESCRIBED: dict[str, Any] = {"type": "string", "maxLength": MAX_STRING}


# --------------------------------------------------------------------------- the answer


def answer(config: runtime.IntegrationConfig, key: str) -> dict[str, Any]:
    """The sandbox envelope for operation ``key`` of ``config``'s integration."""
    cache_key = (config.ref.cache_key, key)
    hit = _CACHE.get(cache_key)
    if hit is None:
        hit = _build_answer(config.operations_doc, key, config.ref.public_id)
        with _CACHE_LOCK:
            _CACHE[cache_key] = hit
            while len(_CACHE) > _CACHE_ENTRIES:
                _CACHE.popitem(last=False)
    status, data = hit
    return {"success": 200 <= status < 300, "status_code": status,
            "data": copy.deepcopy(data), "sandbox": True}


_CACHE: OrderedDict[tuple[Any, str], tuple[int, Any]] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def forget() -> None:
    """Empty this process's cache of sandbox answers (tests)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _build_answer(doc: Mapping[str, Any], key: str, seed_text: str) -> tuple[int, Any]:
    chosen = pick_response(doc, key)
    if chosen is None:
        return 200, None
    status, media, response, schema_pointer = chosen
    if status == 204:
        return status, None
    family, _version = openapi.spec_family(doc)
    example = spec_example(doc, family, media, response)
    if example is not _NO_ANSWER:
        return status, example
    if schema_pointer is None:
        return status, None
    value = generate(doc, schema_pointer, seed=f"{seed_text}:{key}")
    return status, None if value is _NO_ANSWER else value


# --------------------------------------------------------------------------- which response


def _status_order(code: str) -> tuple[int, int] | None:
    text = str(code).strip().upper()
    if text in ("200", "201"):
        return (0 if text == "200" else 1, int(text))
    if len(text) == 3 and text.startswith("2") and text.isdigit():
        return (2, int(text))
    if text == "2XX":
        return (3, 200)
    return None


def _json_media(types: list[str]) -> str | None:
    for media in types:
        if media.split(";")[0].strip().lower() == "application/json":
            return media
    for media in types:
        base = media.split(";")[0].strip().lower()
        if base.endswith("+json") or base.endswith("/json"):
            return media
    return None


def _deref(doc: Mapping[str, Any], node: Any, pointer: str | None = None
           ) -> tuple[Any, str | None]:
    """Follow a chain of internal ``$ref``s (at most 20): the target and its pointer."""
    for _ in range(20):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node, pointer
        pointer = node["$ref"]
        node = openapi.resolve_ref(doc, pointer)
    return None, None


def _operation(doc: Mapping[str, Any], key: str) -> tuple[dict[str, Any], str] | None:
    method, _, path = key.partition(":")
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        return None
    item, item_pointer = _deref(doc, paths.get(path), "#/paths/" + _escape(path))
    if not isinstance(item, dict):
        return None
    op, op_pointer = _deref(doc, item.get(method), f"{item_pointer}/{method}")
    return (op, op_pointer or "") if isinstance(op, dict) else None


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def pick_response(doc: Mapping[str, Any], key: str
                  ) -> tuple[int, str | None, dict[str, Any], str | None] | None:
    """(status, JSON media type, the response object, its schema's pointer) of the
    operation's first 2xx response, or None when it declares none."""
    found = _operation(doc, key)
    if found is None:
        return None
    op, op_pointer = found
    responses = op.get("responses")
    if not isinstance(responses, dict):
        return None
    ranked = sorted((order, code) for code in responses
                    if (order := _status_order(code)) is not None)
    if not ranked:
        return None
    (_rank, status), code = ranked[0]
    response, pointer = _deref(doc, responses[code], f"{op_pointer}/responses/{_escape(code)}")
    if not isinstance(response, dict):
        return status, None, {}, None
    family, _version = openapi.spec_family(doc)
    if family == "2.0":
        produces = op.get("produces") or doc.get("produces") or ["application/json"]
        media = _json_media([p for p in produces if isinstance(p, str)])
        schema_pointer = f"{pointer}/schema" if "schema" in response else None
        return status, media, response, schema_pointer if media else None
    content = response.get("content")
    if not isinstance(content, dict):
        return status, None, response, None
    media = _json_media([m for m in content if isinstance(m, str)])
    if media is None or not isinstance(content[media], dict):
        return status, media, response, None
    schema_pointer = None
    if "schema" in content[media]:
        schema_pointer = f"{pointer}/content/{_escape(media)}/schema"
    return status, media, response, schema_pointer


# --------------------------------------------------------------------------- the spec's example


def spec_example(doc: Mapping[str, Any], family: str, media: str | None,
                 response: Mapping[str, Any]) -> Any:
    """The example the spec gives for this response's body, else ``_NO_ANSWER``."""
    if media is None:
        return _NO_ANSWER
    if family == "2.0":
        examples = response.get("examples")
        if isinstance(examples, dict):
            for name, value in examples.items():
                if name == media or name.split(";")[0].strip().lower() == "application/json":
                    return value
        schema = response.get("schema")
    else:
        media_obj = (response.get("content") or {}).get(media) or {}
        if "example" in media_obj:
            return media_obj["example"]
        examples = media_obj.get("examples")
        if isinstance(examples, dict):
            for item in examples.values():
                item, _pointer = _deref(doc, item)
                if isinstance(item, dict) and "value" in item:
                    return item["value"]
        schema = media_obj.get("schema")
    schema, _pointer = _deref(doc, schema)
    if isinstance(schema, dict):
        if "example" in schema:
            return schema["example"]
        if isinstance(schema.get("examples"), list) and schema["examples"]:
            return schema["examples"][0]
    return _NO_ANSWER


# --------------------------------------------------------------------------- generation


class _Shrinker:
    """A self-contained, narrower copy of a schema for the generator (see the module doc)."""

    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.doc = doc
        self.nodes = 0

    def schema(self, node: Any, refs: int = 0, objects: int = 0,
               limit: int = MAX_REF_DEPTH, need: frozenset[str] = frozenset()
               ) -> dict[str, Any] | None:
        """The narrowed schema, or None when no (bounded) value fits it. ``need``: property
        names an enclosing ``allOf`` requires (a part describing one generates it, however
        deep; else the value gets a placeholder string where the spec says a boolean)."""
        self.nodes += 1
        if node is True or (isinstance(node, dict) and not _constrains(node)):
            return {"type": "string", "maxLength": MAX_STRING}  # anything: a short string
        if not isinstance(node, dict):
            return None
        if isinstance(node.get("$ref"), str):
            if refs >= limit or self.nodes > MAX_NODES:
                return None
            target, _pointer = _deref(self.doc, node)
            return (self.schema(target, refs + 1, objects, need=need) if target is not None
                    else None)
        if self.nodes > MAX_NODES * 4:  # plain nodes are cheap, but not without end
            return None
        nullable = node.get("nullable") is True or node.get("x-nullable") is True
        out = self._shape(node, refs, objects, limit, need)
        if out is None and (nullable or _allows_null(node)):
            return {"type": "null"}
        return out

    def _part(self, node: Any, refs: int, objects: int, limit: int,
              need: frozenset[str] = frozenset()) -> dict[str, Any] | None:
        """An ``allOf`` part: a reference here composes (it does not nest), so it is followed
        without counting towards the depth (a few in a row at most)."""
        for _ in range(8):
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)
                    and len(node) == 1):
                break
            node = openapi.resolve_ref(self.doc, node["$ref"])
            self.nodes += 1
        return self.schema(node, refs, objects, limit, need)

    def _shape(self, node: dict[str, Any], refs: int, objects: int,
               limit: int, need: frozenset[str] = frozenset()) -> dict[str, Any] | None:
        values = [node["const"]] if "const" in node else node.get("enum")
        if isinstance(values, list):
            values = [v for v in values if v is not None] or values
            if not values:
                return None
            if all(isinstance(v, bool) for v in values):  # jsf's enums read True as 1
                return {"type": "boolean", "examples": values}
            return {"enum": [v for v in values if not isinstance(v, bool)] or values}
        if isinstance(node.get("allOf"), list):
            # what the whole requires, a part may describe
            need = need | {r for r in node.get("required") or [] if isinstance(r, str)}
            parts = [self._part(part, refs, objects, limit, need) for part in node["allOf"]
                     if _constrains(part)]
            if any(part is None for part in parts):
                return None
            rest_node = {k: v for k, v in node.items() if k != "allOf"}
            if _constrains(rest_node):
                rest = self._shape(rest_node, refs, objects, limit, need)
                if rest is None:
                    return None
                parts.append(rest)
            return _merge([p for p in parts if p is not None])
        for word in ("oneOf", "anyOf"):
            if isinstance(node.get(word), list):
                branches = [b for b in (self.schema(x, refs, objects, limit) for x in node[word])
                            if b is not None and b.get("type") != "null"]
                if not branches:
                    return None
                rest = {k: v for k, v in node.items() if k not in (word, "nullable")}
                if any(k in rest for k in ("type", "properties", "items")):
                    base = self._shape(rest, refs, objects, limit)
                    branches = [_merge([base, b]) for b in branches] if base else branches
                return {word: branches}
        kind = _kind(node)
        if kind == "object":
            return self._object(node, refs, objects, limit, need)
        if kind == "array":
            return self._array(node, refs, objects, limit)
        if kind == "string":
            return self._string(node)
        if kind in ("integer", "number"):
            out: dict[str, Any] = {"type": kind}
            for word in _NUMERIC_KEYS:
                if isinstance(node.get(word), int | float) and not isinstance(node[word], bool):
                    out[word] = node[word]
            for word, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
                if node.get(word) is True and bound in out:  # draft 4 / OpenAPI 3.0
                    out[word] = out.pop(bound)
                elif isinstance(node.get(word), bool):
                    out.pop(word, None)
            _add_example(out, node)
            return out
        if kind == "boolean":
            return {"type": "boolean"}
        if kind == "null":
            return {"type": "null"}
        return {"type": "string", "maxLength": MAX_STRING}  # no type said: a short string

    def _object(self, node: dict[str, Any], refs: int, objects: int,
               limit: int, need: frozenset[str] = frozenset()) -> dict[str, Any] | None:
        properties = node.get("properties") if isinstance(node.get("properties"), dict) else {}
        required = [r for r in node.get("required") or [] if isinstance(r, str)]
        out_props: dict[str, Any] = {}
        for name, sub in properties.items():
            needed = name in required or name in need
            if not needed and objects >= MAX_OPTIONAL_DEPTH:
                continue
            if isinstance(sub, dict) and sub.get("writeOnly") is True and not needed:
                continue
            shrunk = self.schema(sub, refs, objects + 1,
                                 MAX_REQUIRED_DEPTH if needed else MAX_REF_DEPTH)
            if shrunk is None or (shrunk == {"type": "null"} and not needed
                                  and not _allows_null(sub)):
                if needed:
                    return None
                continue  # optional, and nothing but null fits within the bounds: left out
            out_props[name] = shrunk
        for name in required:
            if name not in out_props:  # required but not described (here): a short string
                out_props[name] = _UNDESCRIBED
        out: dict[str, Any] = {"type": "object", "properties": out_props}
        if required:
            out["required"] = required
        return out

    def _array(self, node: dict[str, Any], refs: int, objects: int,
               limit: int) -> dict[str, Any] | None:
        low = node.get("minItems") if isinstance(node.get("minItems"), int) else 0
        high = node.get("maxItems") if isinstance(node.get("maxItems"), int) else MAX_ITEMS
        high = max(low, min(high, MAX_ITEMS))
        items = self.schema(node.get("items", {}), refs, objects,
                            limit if low else min(limit, MAX_REF_DEPTH))
        if items is None:
            return ({"type": "array", "items": {"type": "null"}, "minItems": 0, "maxItems": 0}
                    if low == 0 else None)
        out = {"type": "array", "items": items, "minItems": low, "maxItems": high}
        if node.get("uniqueItems") is True:
            out["uniqueItems"] = True
        return out

    def _string(self, node: dict[str, Any]) -> dict[str, Any]:
        low = node.get("minLength") if isinstance(node.get("minLength"), int) else 0
        high = node.get("maxLength") if isinstance(node.get("maxLength"), int) else MAX_STRING
        out: dict[str, Any] = {"type": "string", "minLength": low,
                               "maxLength": max(low, min(high, MAX_STRING))}
        pattern = node.get("pattern")
        if isinstance(pattern, str) and len(pattern) <= 500 and not any(
                int(n) > MAX_REPEAT for n in _REPEAT_COUNT.findall(pattern)):
            out["pattern"] = pattern  # a huge {n} would make the generator write n characters
        if node.get("format") in _STRING_FORMATS:
            out["format"] = node["format"]
        _add_example(out, node)
        return out


def _kind(node: Mapping[str, Any]) -> str | None:
    kind = node.get("type")
    if isinstance(kind, list):  # 3.1: ["string", "null"]: the first that is not null
        kind = next((k for k in kind if k in _JSON_TYPES), "null" if "null" in kind else None)
    if kind is None:
        if "properties" in node or "additionalProperties" in node:
            return "object"
        if "items" in node:
            return "array"
    return kind if isinstance(kind, str) else None


_CONSTRAINING = frozenset({
    "$ref", "type", "properties", "required", "items", "additionalProperties", "enum", "const",
    "allOf", "anyOf", "oneOf", "format", "pattern", "minLength", "maxLength", "minItems",
    "maxItems", *_NUMERIC_KEYS,
})


def _constrains(node: Any) -> bool:
    """Whether a schema says anything about its value (not only annotations or nullable)."""
    return node is False or (isinstance(node, dict) and not _CONSTRAINING.isdisjoint(node))


def _allows_null(node: Mapping[str, Any]) -> bool:
    kind = node.get("type")
    return kind == "null" or (isinstance(kind, list) and "null" in kind)


def _add_example(out: dict[str, Any], node: Mapping[str, Any]) -> None:
    """A property's own example, used when it fits the narrowed schema (jsf ``examples``)."""
    example = node.get("example", _NO_ANSWER)
    if example is _NO_ANSWER and isinstance(node.get("examples"), list) and node["examples"]:
        example = node["examples"][0]
    if example is _NO_ANSWER or isinstance(example, dict | list):
        return
    from jsonschema import Draft7Validator

    if Draft7Validator(out).is_valid(example):
        out["examples"] = [example]


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any] | None:
    """``allOf`` as one schema: properties and required lists united, other words from the
    first part that says them (a merge that doesn't fit is caught by the final check)."""
    out: dict[str, Any] = {}
    for part in parts:
        for word, value in part.items():
            if word == "properties":
                props = out.setdefault("properties", {})
                for name, sub in value.items():
                    if name not in props or props[name] is _UNDESCRIBED:
                        props[name] = sub
                    elif sub is not _UNDESCRIBED:
                        props[name] = _merge([props[name], sub])
            elif word == "required":
                out["required"] = list(dict.fromkeys([*out.get("required", []), *value]))
            elif word == "type" and out.get("type") == "null":
                out["type"] = value  # a nullable part narrowed to null: the other part's type
            else:
                out.setdefault(word, value)
    if "required" in out:
        props = out.setdefault("properties", {})
        for name in out["required"]:
            props.setdefault(name, _UNDESCRIBED)
        out.setdefault("type", "object")
    return out


def _seed(text: str, attempt: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{text}#{attempt}".encode()).digest()[:8], "big")


_GENERATE_LOCK = threading.Lock()


def _run_jsf(schema: dict[str, Any], seed: int) -> Any:
    """One jsf value for ``schema``, seeded. jsf draws from the ``random`` module (and Faker's
    own generator): both are seeded for the call and put back as they were after it."""
    from jsf import JSF
    from jsf.schema_types.string import faker

    with _GENERATE_LOCK:
        state = random.getstate()
        faker_random = faker.random
        faker_state = faker_random.getstate()
        try:
            random.seed(seed)
            faker_random.seed(seed)
            return JSF(schema, allow_none_optionals=0.0, max_recursive_depth=MAX_REF_DEPTH + 2
                       ).generate(use_examples=True)
        finally:
            random.setstate(state)
            faker_random.setstate(faker_state)


def response_validator(doc: Mapping[str, Any], schema_pointer: str) -> Any:
    """The validator the proxy uses for request schemas (OpenAPI dialect, refs resolved in
    the stored sub-document), for the response schema at ``schema_pointer``."""
    from openapi_schema_validator import OAS30Validator, OAS31Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4, DRAFT202012

    family, _version = openapi.spec_family(doc)
    specification = DRAFT202012 if family == "3.1" else DRAFT4
    registry = Registry().with_resource(SPEC_URI, Resource(contents=doc,
                                                           specification=specification))
    cls = OAS31Validator if family == "3.1" else OAS30Validator
    return cls({"$ref": SPEC_URI + quote(schema_pointer, safe="#/~")}, registry=registry)


def generate(doc: Mapping[str, Any], schema_pointer: str, *, seed: str) -> Any:
    """A value for the schema at ``schema_pointer`` (``#/...``) that validates against it, or
    ``_NO_ANSWER`` when none was found within the bounds."""
    target = openapi.resolve_ref(doc, schema_pointer)
    shrunk = _Shrinker(doc).schema(target) if target is not None else None
    if shrunk is None:
        return _NO_ANSWER
    validator = response_validator(doc, schema_pointer)
    for attempt in range(ATTEMPTS):
        try:
            value = _run_jsf(copy.deepcopy(shrunk), _seed(seed, attempt))
        except Exception as exc:  # noqa: BLE001 - a schema jsf can't handle: no value
            log.info("sandbox: no value generated for %s: %r", schema_pointer, exc)
            return _NO_ANSWER
        try:
            if len(json.dumps(value, allow_nan=False)) > MAX_BYTES:
                continue
            if validator.is_valid(value):
                return value
        except (TypeError, ValueError):
            continue
        except Exception as exc:  # noqa: BLE001 - the stored schema itself can't be checked
            log.info("sandbox: response schema %s can't be checked: %r", schema_pointer, exc)
            return _NO_ANSWER
    return _NO_ANSWER
