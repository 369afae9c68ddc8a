"""Try it, on the integration's page: a form per exposed operation, generated from what the
import already extracted (``openapi.operation_schemas``: the path, query and header parameters
and the request body the proxy's ``runtime.build_plan`` checks against; example values from
``snippets.skeleton``), the submitted form read back into the SDK's call body
(``{path_params, query_params, headers, payload}``), and the SDK snippet with those values.

The call itself goes through ``integrations.proxy.handle`` (``try_it_views``); this module never
sends anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import openapi
from .egress import MANAGED_REQUEST_HEADERS
from .snippets import skeleton

#: form group -> the SDK call body's key
GROUP_KEYS = {"path": "path_params", "query": "query_params", "header": "headers"}
#: Header parameters OpenAPI says are ignored (the proxy sets them), and the transport's own.
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"}) | MANAGED_REQUEST_HEADERS
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_SNIPPET_LINE = 100


@dataclass
class Field:
    """One parameter input."""

    group: str  # path / query / header
    name: str
    input_id: str
    kind: str  # string / integer / number / boolean / array / object
    required: bool
    description: str = ""
    options: list[tuple[str, Any]] = field(default_factory=list)  # enum: (text, value)
    item_kind: str = "string"  # arrays: the items' type
    value: str = ""  # the text in the input (prefilled, or what was typed)
    checked: bool = False  # booleans
    default_true: bool = False  # an unticked optional boolean whose default is true sends false
    placeholder: str = ""
    minimum: Any = None
    maximum: Any = None
    errors: list[str] = field(default_factory=list)

    @property
    def input_name(self) -> str:
        return f"{self.group}.{self.name}"

    @property
    def is_checkbox(self) -> bool:
        return self.kind == "boolean"

    @property
    def is_select(self) -> bool:
        return bool(self.options)

    @property
    def input_type(self) -> str:
        return "number" if self.kind in ("integer", "number") else "text"

    @property
    def step(self) -> str:
        return "1" if self.kind == "integer" else "any"

    @property
    def type_label(self) -> str:
        if self.kind == "array":
            return f"list of {self.item_kind}s, comma-separated"
        return self.kind


@dataclass
class BodyField:
    content_type: str
    required: bool
    text: str
    input_id: str
    errors: list[str] = field(default_factory=list)
    input_name: str = "payload"

    @property
    def rows(self) -> int:
        return max(4, min(18, self.text.count("\n") + 2))


@dataclass
class TryOperation:
    """The Try it form of one exposed operation (and, after Send, its result)."""

    index: int
    key: str
    slug: str
    fields: list[Field] = field(default_factory=list)
    body: BodyField | None = None
    fixed_headers: list[tuple[str, str]] = field(default_factory=list)  # (name, why no input)
    errors: list[str] = field(default_factory=list)  # about the form as a whole
    app_id: str = ""
    result: Any = None  # try_it_result.Result after Send
    is_open: bool = False

    @property
    def method(self) -> str:
        return self.key.partition(":")[0]

    @property
    def path(self) -> str:
        return self.key.partition(":")[2]

    @property
    def form_id(self) -> str:
        return f"try-{self.index}"

    @property
    def field_groups(self) -> list[tuple[str, list[Field]]]:
        titles = {"path": "Path parameters", "query": "Query parameters",
                  "header": "Header parameters"}
        return [(titles[g], [f for f in self.fields if f.group == g]) for g in titles
                if any(f.group == g for f in self.fields)]

    @property
    def snippet(self) -> str:
        body, _ok = call_body(self)
        return snippet(self.slug, self.key, body)

    def field(self, group: str, name: str) -> Field | None:
        return next((f for f in self.fields if f.group == group and f.name == name), None)


# --------------------------------------------------------------------------- the form


def _deref(schema: Any, doc: Mapping[str, Any]) -> Any:
    for _ in range(20):
        if not (isinstance(schema, dict) and isinstance(schema.get("$ref"), str)):
            break
        schema = openapi.resolve_ref(doc, schema["$ref"])
    return schema if isinstance(schema, dict) else {}


def _kind(schema: Mapping[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):  # 3.1: ["integer", "null"]
        kind = next((k for k in kind if k != "null"), None)
    if kind in ("string", "integer", "number", "boolean", "array", "object"):
        return str(kind)
    return "object" if isinstance(schema.get("properties"), dict) else "string"


def _example(param: Mapping[str, Any], schema: Mapping[str, Any]) -> tuple[bool, Any]:
    """(found, value): the parameter's example, else the schema's example or default."""
    if "example" in param:
        return True, param["example"]
    examples = param.get("examples")
    if isinstance(examples, dict):
        for item in examples.values():
            if isinstance(item, dict) and "value" in item:
                return True, item["value"]
    for key in ("example", "default"):
        if key in schema:
            return True, schema[key]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return True, schema["examples"][0]
    return False, None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, default=str)


def _make_field(group: str, name: str, required: bool, param: Mapping[str, Any], raw: Any,
                doc: Mapping[str, Any], input_id: str) -> Field:
    schema = _deref(raw, doc)
    kind = _kind(schema)
    out = Field(group=group, name=name, input_id=input_id, kind=kind, required=required,
                description=str(param.get("description") or schema.get("description") or "")
                [:300])
    enum = schema.get("enum")
    if isinstance(enum, list) and enum and kind != "boolean":
        out.options = [(_text(v), v) for v in enum[:200]]
    if kind == "array":
        items = _deref(schema.get("items"), doc)
        out.item_kind = _kind(items) if items else "string"
    if kind in ("integer", "number"):
        out.minimum, out.maximum = schema.get("minimum"), schema.get("maximum")
    found, value = _example(param, schema)
    if kind == "boolean":
        out.checked = found and value is True
        out.default_true = schema.get("default") is True
    elif found:
        if kind == "array" and isinstance(value, list):
            out.value = ", ".join(_text(v) for v in value)
        else:
            out.value = _text(value)
    elif out.options and required:
        out.value = out.options[0][0]
    if not found and not out.options and kind != "boolean":
        hint = skeleton(raw, doc)
        if isinstance(hint, str | int | float) and not isinstance(hint, bool) and hint != "string":
            out.placeholder = str(hint)
    return out


def build(doc: Mapping[str, Any], key: str, index: int, slug: str,
          configured_headers: Iterable[str]) -> TryOperation:
    """The form of one selected operation, prefilled from the spec's examples and defaults."""
    from .services import is_sensitive_header

    op = TryOperation(index=index, key=key, slug=slug)
    try:
        schemas = openapi.operation_schemas(doc, key)
    except openapi.SpecError as exc:
        op.errors.append(f"This operation's parameters can't be read from the stored spec: "
                         f"{exc}")
        return op
    configured = {name.lower() for name in configured_headers}
    declared = {p.name for p in schemas.path_params}
    groups = (("path", schemas.path_params), ("query", schemas.query_params),
              ("header", schemas.header_params))
    for group, items in groups:
        for param in items:
            lowered = param.name.lower()
            if group == "header":
                if lowered in configured:
                    op.fixed_headers.append((param.name, "set by the integration"))
                    continue
                if lowered in _IGNORED_HEADERS:
                    op.fixed_headers.append((param.name, "set by the proxy"))
                    continue
                if is_sensitive_header(param.name):
                    op.fixed_headers.append((param.name, "a credential: it belongs in the "
                                                         "integration's configuration"))
                    continue
            op.fields.append(_make_field(group, param.name, param.required, param.parameter,
                                         param.schema, doc, f"{op.form_id}-f{len(op.fields)}"))
        if group == "path":  # a template variable the spec forgot to declare: a plain string
            for name in re.findall(r"\{([^{}/]+)\}", op.path):
                if name not in declared:
                    declared.add(name)
                    op.fields.append(Field("path", name, f"{op.form_id}-f{len(op.fields)}",
                                           "string", True))
    if schemas.body is not None:
        text = ""
        if schemas.body.schema not in (None, {}):
            text = json.dumps(skeleton(schemas.body.schema, doc), indent=2, ensure_ascii=False,
                              default=str)
        op.body = BodyField(schemas.body.content_type or "application/json",
                            schemas.body.required, text, f"{op.form_id}-body")
    return op


def build_all(integration: Any, configured_headers: Iterable[str]) -> list[TryOperation]:
    doc = integration.operations_doc or {}
    names = list(configured_headers)
    return [build(doc, key, n, integration.slug, names)
            for n, key in enumerate(integration.selected_keys or [])]


# --------------------------------------------------------------------------- reading it back


def load(op: TryOperation, data: Mapping[str, Any]) -> None:
    """Put what was typed into the form (so a failed Send shows it again)."""
    for f in op.fields:
        if f.is_checkbox:
            f.checked = data.get(f.input_name) == "true"
        else:
            f.value = str(data.get(f.input_name, ""))[:10_000]
    if op.body is not None:
        op.body.text = str(data.get(op.body.input_name, ""))[:1_000_000]


def _scalar(text: str, kind: str) -> Any:
    if kind == "integer":
        try:
            return int(text, 10)
        except ValueError:
            kind = "number"  # 1.5 goes as 1.5: the proxy says what is wrong, in its words
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in text and "e" not in text \
            else number
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


def _value(f: Field) -> Any:
    """The field's value in the call body, or None when it is not sent."""
    if f.is_checkbox:
        if f.checked:
            return True
        return False if (f.required or f.default_true) else None
    if f.options and f.kind != "array":
        for text, value in f.options:
            if text == f.value:
                return value
        return f.value or None
    if f.kind == "array":
        items = [part.strip() for part in f.value.split(",") if part.strip()]
        return [_scalar(item, f.item_kind) for item in items] or None
    if f.kind in ("integer", "number", "boolean"):
        text = f.value.strip()
        return _scalar(text, f.kind) if text else None
    if f.kind == "object":
        try:
            return json.loads(f.value) if f.value.strip() else None
        except ValueError:
            return f.value
    return f.value if f.value != "" else None


def call_body(op: TryOperation) -> tuple[dict[str, Any], bool]:
    """The SDK call body for the form's current values; False (and the body field's error)
    when the JSON body can't be read (nothing is sent then)."""
    body: dict[str, Any] = {}
    for f in op.fields:
        value = _value(f)
        if value is not None:
            body.setdefault(GROUP_KEYS[f.group], {})[f.name] = value
    ok = True
    if op.body is not None and op.body.text.strip():
        try:
            body["payload"] = json.loads(op.body.text)
        except ValueError as exc:
            ok = False
            message = getattr(exc, "msg", str(exc))
            where = (f" (line {exc.lineno}, column {exc.colno})"
                     if isinstance(exc, json.JSONDecodeError) else "")
            error = f"This isn't valid JSON: {message}{where}."
            if error not in op.body.errors:
                op.body.errors.append(error)
    return body, ok


def apply_errors(op: TryOperation, errors: Any) -> None:
    """The proxy's 400 field errors (``{"path_params": {"petId": [...]}, "payload": [...]}``)
    next to the inputs they are about."""
    if not isinstance(errors, dict):
        return
    groups = {v: k for k, v in GROUP_KEYS.items()}
    for key, value in errors.items():
        if key == "payload" and op.body is not None and isinstance(value, list):
            op.body.errors += [str(m) for m in value]
            continue
        group = groups.get(key)
        if isinstance(value, dict):
            for name, messages in value.items():
                target = op.field(group, name) if group else None
                texts = [str(m) for m in messages] if isinstance(messages, list) else [
                    str(messages)]
                if target is not None:
                    target.errors += texts
                else:
                    op.errors += [f"{key}.{name}: {t}" for t in texts]
        elif isinstance(value, list):
            op.errors += [f"{key}: {m}" for m in value]


# --------------------------------------------------------------------------- the SDK snippet


def _key(key: Any) -> str:
    return str(key) if _IDENTIFIER.fullmatch(str(key)) else json.dumps(str(key))


def _flat(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)}: {_flat(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False, default=str)


def _js(value: Any, indent: int) -> str:
    """A JavaScript literal: on one line when it fits, else one member a line."""
    flat = _flat(value)
    if len(flat) + 2 * indent <= _SNIPPET_LINE - 20 or not isinstance(value, dict | list) \
            or not value:
        return flat
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict):
        parts = [f"{_key(k)}: {_js(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(inner + p for p in parts) + "\n" + pad + "}"
    parts = [_js(v, indent + 1) for v in value]
    return "[\n" + ",\n".join(inner + p for p in parts) + "\n" + pad + "]"


def snippet(slug: str, key: str, body: Mapping[str, Any]) -> str:
    """``const result = await base44.integrations.custom.call("slug", "get:/pets/{petId}",
    {path_params: {petId: 1}});``: what an app sends for the same call."""
    args = f"{json.dumps(slug)}, {json.dumps(key, ensure_ascii=False)}"
    ordered = {k: body[k] for k in ("path_params", "query_params", "headers", "payload")
               if k in body}
    if ordered:
        flat = _flat(ordered)
        args += ", " + (flat if len(args) + len(flat) <= _SNIPPET_LINE else _js(ordered, 0))
    return f"const result = await base44.integrations.custom.call({args});"
