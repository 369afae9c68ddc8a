"""OpenAPI / Swagger spec import, pure Python (no Django).

Pipeline, cheapest first:

1. ``load_document``: size cap, then JSON (``json.loads``) or YAML (built straight from the
   libyaml event stream, which refuses aliases and caps nodes and depth *as it goes*, so an
   alias bomb or a deeply nested file costs nothing); keys become strings (``200:`` ->
   ``"200"``), YAML timestamps stay strings.
2. ``check_document``: supported version, path keys, and every ``$ref`` internal (``#/...``),
   resolvable, and free of ``$ref -> $ref`` loops. After this nothing can make a validator
   fetch a URL or read a local file.
3. ``list_operations``: ``method:path`` keys from the raw document (refs followed on demand).
   ``parse_spec`` = 1 + 2 + 3: the "operation list ready" path.
4. ``validate``: openapi-spec-validator findings as warnings (run it under a time limit).
5. ``extract_operations`` / ``operation_schemas`` / ``diff_operations`` for the selected
   operations; ``bundle`` for multi-file specs fetched through an injected ``fetch``.

Every refusal is a ``SpecError(message, code)`` with a short, user-actionable message.
"""

from __future__ import annotations

import base64
import datetime as _dt
import functools
import hashlib
import inspect
import json
import math
import posixpath
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urldefrag, urljoin, urlsplit

import yaml

# --------------------------------------------------------------------------------------------
# Limits (module constants so the service layer and tests can refer to them)
# --------------------------------------------------------------------------------------------

#: Largest accepted spec text (bytes, UTF-8), checked before parsing.
MAX_SPEC_BYTES = 25 * 1024 * 1024
#: Max JSON values (objects + arrays + scalars) in one document. The 13 MB fully dereferenced
#: Box spec has ~381k.
MAX_NODES = 1_500_000
#: YAML is built from libyaml events at ~2 us per node (JSON: ~0.1 us), so YAML gets a lower
#: cap to refuse oversized YAML in about a second (a YAML copy of the 13 MB spec still fits).
MAX_YAML_NODES = 600_000
#: Max nesting of objects/arrays (the deref'd Box spec is 63 deep).
MAX_DEPTH = 200
#: Operations a user may select for one integration.
MAX_SELECTED_OPERATIONS = 30
#: Validation findings returned at most.
MAX_FINDINGS = 50
#: Finding messages are cut to this many characters.
MAX_FINDING_CHARS = 300
#: Bundling limits: number of files (root included) and total bytes fetched.
BUNDLE_MAX_FILES = 50
BUNDLE_MAX_BYTES = MAX_SPEC_BYTES
#: Where ``bundle`` puts the content of other files.
BUNDLE_KEY = "x-bundled"
#: Marker ``extract_operations`` puts on a sub-document (keys of the extracted operations).
EXTRACT_KEY = "x-switchboard-extract"
#: Text that looks like JSON but is not is retried as YAML (lenient: trailing commas, single
#: quotes) only up to this size, so that broken big inputs are refused fast.
JSON_AS_YAML_MAX_BYTES = 2 * 1024 * 1024
#: Base URI under which ``operation_schemas`` registers the sub-document for jsonschema.
SPEC_URI = "https://spec.switchboard.invalid/openapi.json"

METHODS_V2 = ("get", "put", "post", "delete", "options", "head", "patch")
METHODS_V3 = (*METHODS_V2, "trace")
PARAM_LOCATIONS_V2 = frozenset({"path", "query", "header", "body", "formData"})
PARAM_LOCATIONS_V3 = frozenset({"path", "query", "header", "cookie"})

_JSON_SCALARS = (str, int, float, bool, type(None))
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


# --------------------------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------------------------


class SpecError(Exception):
    """A spec was refused. ``message`` is safe to show to the user; ``code`` is stable."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Finding:
    """A validator finding. Never fatal: real specs (OpenAI, Slack) have some."""

    message: str
    path: str = ""  # JSON pointer into the document ("" = whole document)
    level: str = "warning"
    code: str = "schema"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Operation:
    key: str  # "get:/pets/{id}"
    method: str  # lower case
    path: str
    operation_id: str | None
    summary: str | None
    tags: list[str]
    deprecated: bool
    #: Path-level parameters merged with operation-level ones (operation wins on the same
    #: name + location); ``$ref``s to parameters are resolved, schema refs inside are kept.
    parameters: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class SpecInfo:
    title: str
    version: str  # the API's own version (info.version)
    spec_version: str  # as written: "2.0", "3.0.3", "3.1.0"
    spec_family: str  # "2.0", "3.0" or "3.1"
    operation_count: int

    @property
    def spec_label(self) -> str:
        kind = "Swagger" if self.spec_family == "2.0" else "OpenAPI"
        return f"{kind} {self.spec_version}"


@dataclass
class ParsedSpec:
    doc: dict[str, Any]
    info: SpecInfo
    operations: list[Operation]

    @property
    def spec_family(self) -> str:
        return self.info.spec_family

    def operation(self, key: str) -> Operation | None:
        for op in self.operations:
            if op.key == key:
                return op
        return None


@dataclass
class ParamSchema:
    name: str
    location: str  # path / query / header / cookie / formData
    required: bool
    schema: Any  # raw schema (``$ref``s kept) or, for Swagger 2.0, built from the parameter
    pointer: str | None  # where ``schema`` lives in the sub-document (None when built)
    parameter: dict[str, Any]  # the (resolved) parameter object


@dataclass
class BodySchema:
    content_type: str | None  # the media type picked (JSON preferred)
    content_types: list[str]
    required: bool
    schema: Any
    pointer: str | None


@dataclass
class OperationSchemas:
    key: str
    spec_family: str
    path_params: list[ParamSchema]
    query_params: list[ParamSchema]
    header_params: list[ParamSchema]
    cookie_params: list[ParamSchema]
    body: BodySchema | None
    registry: Any  # referencing.Registry holding the sub-document at SPEC_URI

    def ref_schema(self, item: ParamSchema | BodySchema) -> Any:
        """A schema for ``item`` that resolves its refs against the sub-document."""
        if item.pointer is not None:
            return {"$ref": SPEC_URI + "#" + quote(item.pointer, safe="/~")}
        return item.schema

    def validator(self, item: ParamSchema | BodySchema) -> Any:
        """A jsonschema validator (OpenAPI dialect) for a parameter or the request body."""
        from openapi_schema_validator import OAS30Validator, OAS31Validator

        cls = OAS31Validator if self.spec_family == "3.1" else OAS30Validator
        return cls(self.ref_schema(item), registry=self.registry)


@dataclass
class OperationsDiff:
    added: list[str]
    removed: list[str]
    changed: list[str]
    #: selected operations that were removed or changed
    affected_selected: list[str]
    #: True when the old document was a sub-document from ``extract_operations``: only the
    #: operations it holds are compared and ``added`` is relative to those.
    partial: bool = False

    @property
    def has_changes(self) -> bool:
        return bool(self.added or self.removed or self.changed)


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def too_large_error(size: int | None, limit: int = MAX_SPEC_BYTES) -> SpecError:
    """``size``: the real size in bytes, or None when it is not known (only that it is over
    the limit: a body read up to a cap without a Content-Length)."""
    if size is None:
        return SpecError(
            f"The spec is too large (over {limit // 1048576} MiB); the limit is "
            f"{limit // 1048576} MiB.",
            "too_large",
        )
    return SpecError(
        f"The spec is too large ({size / 1048576:.1f} MiB); the limit is {limit // 1048576} MiB.",
        "too_large",
    )


def decode_text(data: str | bytes | bytearray) -> str:
    """The spec's text: UTF-8 (a BOM is dropped) or UTF-16 with a BOM; SpecError when it is
    not text or over the size cap."""
    if isinstance(data, str):
        if len(data) > MAX_SPEC_BYTES:
            raise too_large_error(len(data))
        if len(data) * 4 > MAX_SPEC_BYTES:
            size = len(data.encode("utf-8", "surrogatepass"))
            if size > MAX_SPEC_BYTES:
                raise too_large_error(size)
        return data[1:] if data.startswith("\ufeff") else data
    if not isinstance(data, bytes | bytearray):
        raise SpecError("The spec must be text.", "not_json_or_yaml")
    if len(data) > MAX_SPEC_BYTES:
        raise too_large_error(len(data))
    raw = bytes(data)
    try:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            return raw.decode("utf-16")
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"The spec is not UTF-8 text (invalid byte at offset {exc.start}).",
            "not_json_or_yaml",
        ) from None


def _load_json(text: str) -> Any:
    # Cheap upper bound of the number of values before building anything.
    estimate = text.count(",") + text.count(":") + text.count("[") + text.count("{")
    if estimate > 2 * MAX_NODES:
        raise _too_many_nodes(MAX_NODES)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(
            f"Not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}.",
            "not_json_or_yaml",
        ) from None
    except RecursionError:
        raise _too_deep(MAX_DEPTH, _json_deep_position(text)) from None


def _too_deep(limit: int, where: str = "") -> SpecError:
    at = f" at {where}" if where else ""
    return SpecError(f"The spec is nested too deeply (more than {limit} levels){at}.", "too_deep")


_JSON_NESTING_RE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _json_deep_position(text: str, limit: int = MAX_DEPTH) -> str:
    """"line L, column C" where JSON ``text`` first nests deeper than ``limit`` (for the
    error message only: json.loads gave up without saying where)."""
    depth = 0
    for match in _JSON_NESTING_RE.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                offset = match.start()
                line = text.count("\n", 0, offset) + 1
                column = offset - (text.rfind("\n", 0, offset) + 1) + 1
                return f"line {line}, column {column}"
        elif token in "]}":
            depth -= 1
    return ""


def _deep_pointer(root: Any, limit: int = MAX_DEPTH) -> str:
    """JSON pointer of the first value nested deeper than ``limit`` (error message only)."""
    stack: list[tuple[Any, int, Any]] = [(root, 1, None)]
    while stack:
        obj, depth, link = stack.pop()
        if depth > limit:
            return _truncate(_link_pointer(link), 200)
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        stack.extend((v, depth + 1, (link, k)) for k, v in items if isinstance(v, dict | list))
    return ""


def _too_many_nodes(limit: int, what: str = "values") -> SpecError:
    return SpecError(f"The spec is too big: more than {limit:,} {what}.", "too_many_nodes")


_CSafeLoader: Any = getattr(yaml, "CSafeLoader", None)
_BaseSafeLoader: Any = _CSafeLoader or yaml.SafeLoader


class _SpecLoader(_BaseSafeLoader):  # type: ignore[misc, valid-type]
    """Safe loader that keeps timestamps as strings (they break ``json.dumps``) and does not
    choke on a bare ``=`` value."""

    yaml_implicit_resolvers = {
        first: [
            (tag, regexp)
            for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:value")
        ]
        for first, resolvers in _BaseSafeLoader.yaml_implicit_resolvers.items()
    }


def _yaml_error(exc: yaml.YAMLError) -> SpecError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        return SpecError(f"Not valid YAML: {where}{problem}{context}.", "not_json_or_yaml")
    return SpecError(f"Not valid YAML: {_truncate(str(exc), 200)}", "not_json_or_yaml")


_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAGS = (None, "!", "tag:yaml.org,2002:map")
_SEQ_TAGS = (None, "!", "tag:yaml.org,2002:seq")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NULL_TAG = "tag:yaml.org,2002:null"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_INT_TAG = "tag:yaml.org,2002:int"
_DECIMAL_RE = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
_NO_KEY = object()


class _NeedsFullLoader(Exception):
    """A YAML feature the fast builder does not do (merge keys, !!set, !!omap...)."""


def _mark(event: Any) -> str:
    mark = event.start_mark
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _anchor_error(sigil: str, event: Any) -> SpecError:
    # An alias can make a small file expand into a huge one ("billion laughs"), and an anchor
    # is only there for aliases: both are refused where they first appear.
    return SpecError(
        f"YAML anchors and aliases are not allowed ({sigil}{_truncate(str(event.anchor), 60)} "
        f"at {_mark(event)}); expand them or convert the spec to JSON.",
        "yaml_alias",
    )


def _yaml_deep_where(stack: list[Any], event: Any, building: bool) -> str:
    """Pointer (of the open containers) and line of YAML nested too deeply."""
    tokens: list[Any] = []
    if building:
        for parent, child in zip(stack, stack[1:], strict=False):
            if type(parent) is list:
                tokens.append(len(parent) - 1)
            else:
                tokens.append(next((k for k, v in reversed(parent.items()) if v is child), "?"))
    where = _truncate(_pointer(tokens), 200) + ", " if tokens else ""
    return where + _mark(event)


def _build_yaml(text: str) -> Any:
    """Build the data straight from libyaml's event stream, checking as it goes: aliases are
    refused (so alias bombs cost nothing), nesting and node count are capped before they can
    hurt, and no node graph is built (3x faster and far less memory than ``yaml.load``).

    Raises ``_NeedsFullLoader`` - after having checked the *whole* stream - for the rare YAML
    features it does not build; the caller then uses the regular safe loader."""
    loader = _SpecLoader(text)
    scalar_event, alias_event = yaml.ScalarEvent, yaml.AliasEvent
    map_start, seq_start = yaml.MappingStartEvent, yaml.SequenceStartEvent
    map_end, seq_end = yaml.MappingEndEvent, yaml.SequenceEndEvent
    resolve, construct = loader.resolve, loader.construct_object
    scalar_node = yaml.ScalarNode
    root: Any = None
    stack: list[Any] = []  # open containers
    keys: list[Any] = []  # pending key per open mapping (_NO_KEY: expecting a key)
    building = True
    depth = nodes = documents = 0

    implicit_resolvers = _SpecLoader.yaml_implicit_resolvers
    bool_values = loader.bool_values
    cache: dict[str, Any] = {}  # plain scalars repeat a lot ("string", "200", "true")

    def tagged(tag: str, value: str, event: Any) -> Any:
        if tag == _STR_TAG:
            return value
        if tag == _NULL_TAG:
            return None
        if tag == _BOOL_TAG:
            return bool_values[value.lower()]
        if tag == _INT_TAG and _DECIMAL_RE.match(value):
            return int(value)
        if tag == _MERGE_TAG:
            raise _NeedsFullLoader
        node = scalar_node(tag, value, event.start_mark, event.end_mark, event.style)
        return construct(node, deep=True)

    def scalar(event: Any) -> Any:
        tag = event.tag
        value = event.value
        if tag is not None and tag != "!":
            return tagged(tag, value, event)
        if not event.implicit[0]:
            return value
        result = cache.get(value, _NO_KEY)
        if result is _NO_KEY:
            if value[:1] not in implicit_resolvers and None not in implicit_resolvers:
                result = value
            else:
                result = tagged(resolve(scalar_node, value, event.implicit), value, event)
            if len(value) <= 64:
                cache[value] = result
        return result

    def add(value: Any, event: Any) -> None:
        nonlocal root
        if not stack:
            root = value
            return
        top = stack[-1]
        if type(top) is list:
            top.append(value)
        elif keys[-1] is _NO_KEY:
            if isinstance(value, dict | list):
                raise SpecError(
                    f"Not valid YAML: {_mark(event)}: complex mapping keys are not supported.",
                    "not_json_or_yaml",
                )
            keys[-1] = value
        else:
            top[keys[-1]] = value
            keys[-1] = _NO_KEY

    try:
        while loader.check_event():
            event = loader.get_event()
            kind = event.__class__
            if getattr(event, "anchor", None) is not None and kind is not alias_event:
                raise _anchor_error("&", event)
            if kind is scalar_event:
                nodes += 1
                if building:
                    try:
                        add(scalar(event), event)
                    except _NeedsFullLoader:
                        building = False
            elif kind is map_start or kind is seq_start:
                nodes += 1
                depth += 1
                if depth > MAX_DEPTH:
                    raise _too_deep(MAX_DEPTH, _yaml_deep_where(stack, event, building))
                if building:
                    if event.tag not in (_MAP_TAGS if kind is map_start else _SEQ_TAGS):
                        building = False
                        continue
                    container: Any = {} if kind is map_start else []
                    add(container, event)
                    stack.append(container)
                    keys.append(_NO_KEY)
            elif kind is map_end or kind is seq_end:
                depth -= 1
                if building:
                    stack.pop()
                    keys.pop()
            elif kind is alias_event:
                raise _anchor_error("*", event)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise SpecError(
                        f"Not valid YAML: {_mark(event)}: the file holds more than one YAML "
                        "document; a spec must be a single document.",
                        "not_json_or_yaml",
                    )
            if nodes > MAX_YAML_NODES:
                raise _too_many_nodes(MAX_YAML_NODES, "YAML nodes (convert it to JSON)")
    except yaml.YAMLError as exc:
        raise _yaml_error(exc) from None
    finally:
        loader.dispose()
    if not building:
        raise _NeedsFullLoader
    return root


def _load_yaml(text: str) -> Any:
    try:
        return _build_yaml(text)
    except _NeedsFullLoader:
        pass
    try:  # the stream was fully checked above: no aliases, bounded depth and size
        return yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise _yaml_error(exc) from None
    except RecursionError:
        raise _too_deep(MAX_DEPTH) from None


def _key_to_str(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, _dt.date):
        return key.isoformat()
    return str(key)


def _str_keys(obj: dict[Any, Any]) -> dict[str, Any]:
    for key in obj:
        if type(key) is not str:
            break
    else:
        return obj
    new: dict[str, Any] = {}
    for key, value in obj.items():
        skey = _key_to_str(key)
        if skey in new:
            raise SpecError(
                f"Duplicate key '{_truncate(skey, 80)}' (written once as a number or boolean "
                "and once as a string).",
                "duplicate_key",
            )
        new[skey] = value
    return new


def _to_json_scalar(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN/Infinity are not JSON (PostgreSQL jsonb refuses them)
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, set | frozenset):
        return sorted((_to_json_scalar(v) for v in value), key=str)
    if isinstance(value, tuple):
        return list(value)
    return str(value)


def _normalize(root: Any) -> tuple[Any, set[str]]:
    """Make ``root`` plain JSON data in place (string keys, JSON scalars), enforce node and
    depth caps, and collect every JSON Reference (``_ref_sites``). Iterative: no recursion
    limit issues."""
    nodes = 1
    if isinstance(root, dict):
        root = _str_keys(root)
    elif not isinstance(root, list | _JSON_SCALARS):
        root = _to_json_scalar(root)
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        obj, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep(MAX_DEPTH, _deep_pointer(root))
        if type(obj) is dict:
            nodes += len(obj)
            for key, value in obj.items():
                kind = type(value)
                if kind is dict:
                    fixed = _str_keys(value)
                    if fixed is not value:
                        obj[key] = fixed
                    stack.append((fixed, depth + 1))
                elif kind is list:
                    stack.append((value, depth + 1))
                elif kind is float and not math.isfinite(value):
                    obj[key] = str(value)
                elif not isinstance(value, _JSON_SCALARS):
                    obj[key] = fixed = _to_json_scalar(value)
                    if isinstance(fixed, list):
                        stack.append((fixed, depth + 1))
        else:  # list
            nodes += len(obj)
            for index, value in enumerate(obj):
                kind = type(value)
                if kind is dict:
                    fixed = _str_keys(value)
                    if fixed is not value:
                        obj[index] = fixed
                    stack.append((fixed, depth + 1))
                elif kind is list:
                    stack.append((value, depth + 1))
                elif kind is float and not math.isfinite(value):
                    obj[index] = str(value)
                elif not isinstance(value, _JSON_SCALARS):
                    obj[index] = fixed = _to_json_scalar(value)
                    if isinstance(fixed, list):
                        stack.append((fixed, depth + 1))
        if nodes > MAX_NODES:
            raise _too_many_nodes(MAX_NODES)
    return root, _ref_sites(root)


#: Characters no spec can hold: PostgreSQL can't store NUL, and a lone UTF-16 surrogate (from
#: an escape such as "\\ud800") can't be encoded as UTF-8 at all.
_BAD_CHARACTER_RE = re.compile("[\x00\ud800-\udfff]")
#: Escapes that can produce one of them (JSON \\u, YAML \\0 \\x \\u \\U); only a text that
#: has one is searched value by value.
_BAD_ESCAPE_RE = re.compile(r"\\(?:0|x00|u0000|U00000000|u[dD][89a-fA-F]|U0000[dD][89a-fA-F])")
NUL_MESSAGE = "The spec contains a NUL character; remove it and try again."


def _bad_character_error(char: str, where: str) -> SpecError:
    if len(where) > 200:
        where = where[:200] + "…"
    at = f" at {where}" if where else ""
    if char == "\x00":
        return SpecError(NUL_MESSAGE.replace(";", f"{at};", 1), "not_json_or_yaml")
    return SpecError(
        f"The spec contains an unpaired UTF-16 surrogate (an escape such as \\ud800 without "
        f"its pair), which is not a character{at}; remove it and try again.",
        "invalid_character")


def _link_pointer(link: Any) -> str:
    """The JSON pointer of a (parent link, key) chain."""
    tokens: list[Any] = []
    while link is not None:
        link, key = link
        tokens.append(key)
    return _pointer(reversed(tokens)) or "/"


def _refuse_bad_characters(text: str, root: Any) -> None:
    """Refuse a NUL or a lone surrogate, in the text itself or made by an escape (a key or
    a value of the parsed document), naming where it is as a JSON pointer."""
    if "\x00" in text:
        raise _bad_character_error("\x00", "")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise _bad_character_error("\ud800", "") from None
    if not _BAD_ESCAPE_RE.search(text):
        return
    bad = _BAD_CHARACTER_RE.search
    # (value, link): link is (parent link, key), turned into a pointer only on a find
    stack: list[tuple[Any, Any]] = [(root, None)]
    while stack:
        obj, link = stack.pop()
        kind = type(obj)
        if kind is str:
            if (not obj.isascii() or "\x00" in obj) and (found := bad(obj)):
                raise _bad_character_error(found.group(), _link_pointer(link))
        elif kind is dict:
            for key, value in obj.items():
                if (not key.isascii() or "\x00" in key) and (found := bad(key)):
                    where = f"the key {json.dumps(key)[:200]} of {_link_pointer(link)}"
                    raise _bad_character_error(found.group(), where)
                if type(value) in (str, dict, list):
                    stack.append((value, (link, key)))
        elif kind is list:
            stack.extend((value, (link, i)) for i, value in enumerate(obj)
                         if type(value) in (str, dict, list))


def _load(
    data: str | bytes | bytearray, *, require_object: bool = True
) -> tuple[Any, dict[str, Any]]:
    text = decode_text(data)
    stripped = text.lstrip()
    if not stripped:
        raise SpecError("The spec is empty.", "empty")
    if stripped[0] in "{[":
        try:
            doc = _load_json(text)
        except SpecError as json_error:
            if json_error.code != "not_json_or_yaml" or len(text) > JSON_AS_YAML_MAX_BYTES:
                raise
            try:
                doc = _load_yaml(text)
            except SpecError as yaml_error:
                if yaml_error.code == "not_json_or_yaml":
                    raise json_error from None
                raise
    else:
        doc = _load_yaml(text)
    if require_object and not isinstance(doc, dict):
        if isinstance(doc, list):
            raise SpecError(
                "Not an OpenAPI document: the top level must be an object, not a list.",
                "not_object",
            )
        if isinstance(doc, str):
            raise SpecError(
                "Not an OpenAPI document: this is plain text (is it an HTML page or an error "
                "message instead of the spec?).",
                "not_json_or_yaml",
            )
        raise SpecError("Not an OpenAPI document: the top level must be an object.", "not_object")
    root, refs = _normalize(doc)
    _refuse_bad_characters(text, root)
    return root, refs


def load_document(data: str | bytes | bytearray, *, require_object: bool = True) -> Any:
    """Parse JSON or YAML text into plain JSON data (size, alias, node and depth checks;
    keys made strings). No OpenAPI checks: see ``check_document``."""
    doc, _refs = _load(data, require_object=require_object)
    return doc


# --------------------------------------------------------------------------------------------
# References
# --------------------------------------------------------------------------------------------


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointer(tokens: Iterable[Any]) -> str:
    return "".join("/" + _escape(str(t)) for t in tokens)


def _split_pointer(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise KeyError(pointer)
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _walk_tokens(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            node = node[token]
        elif isinstance(node, list):
            if not token.isdigit() or (token != "0" and token.startswith("0")):
                raise KeyError(token)
            node = node[int(token)]
        else:
            raise KeyError(token)
    return node


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


# --------------------------------------------------------------------------------------------
# Document checks
# --------------------------------------------------------------------------------------------


def _version_text(value: Any) -> str:
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()


def spec_family(doc: Mapping[str, Any]) -> tuple[str, str]:
    """``(family, version)``: family is "2.0", "3.0" or "3.1"; raises ``SpecError``."""
    if not isinstance(doc, Mapping):
        raise SpecError("Not an OpenAPI document: the top level must be an object.", "not_object")
    if "openapi" in doc:
        version = _version_text(doc["openapi"])
        match = re.match(r"^3\.([01])(\.\d+)?(-[0-9A-Za-z.\-]+)?$", version)
        if match:
            return f"3.{match.group(1)}", version
        raise SpecError(
            f"OpenAPI {_truncate(version, 40)} is not supported; supported versions are "
            "Swagger 2.0, OpenAPI 3.0.x and 3.1.x.",
            "unsupported_version",
        )
    if "swagger" in doc:
        version = _version_text(doc["swagger"])
        if version in ("2.0", "2", "2.0.0"):
            return "2.0", "2.0"
        raise SpecError(
            f"Swagger {_truncate(version, 40)} is not supported; supported versions are "
            "Swagger 2.0, OpenAPI 3.0.x and 3.1.x.",
            "unsupported_version",
        )
    if "swaggerVersion" in doc:
        version = _truncate(_version_text(doc["swaggerVersion"]), 40)
        raise SpecError(
            f"Swagger {version} is not supported; convert the spec to OpenAPI 3 "
            "(or Swagger 2.0) first.",
            "unsupported_version",
        )
    if "asyncapi" in doc:
        raise SpecError(
            "This is an AsyncAPI document (event APIs), not an OpenAPI/Swagger spec.",
            "not_openapi",
        )
    raise SpecError(
        "Not an OpenAPI or Swagger document: the top level has no 'openapi' or 'swagger' field.",
        "not_openapi",
    )


#: Characters no URL path can hold, not even percent-encoded by a sane API description.
_PATH_BAD_CHARS = re.compile(r"[\x00-\x20\x7f]")


def _check_structure(doc: dict[str, Any], family: str, resolver: _Resolver) -> None:
    paths = doc.get("paths")
    if paths is None:
        return
    if not isinstance(paths, dict):
        raise SpecError("'paths' must be an object mapping paths to operations.", "invalid_spec")
    for path in paths:
        if path.startswith("x-"):
            continue
        if not path.startswith("/"):
            raise SpecError(
                f"Path '{_truncate(path, 100)}' must start with '/'.",
                "invalid_path",
            )
        if _PATH_BAD_CHARS.search(path):
            raise SpecError(
                f"Path {_truncate(json.dumps(path), 100)} contains whitespace or control "
                "characters, so no URL can be built from it.",
                "invalid_path",
            )
    for op in _iter_operations(doc, family, resolver):
        for param in op.parameters:
            _check_parameter(param, op.key, family)


def _check_parameter(param: Any, key: str, family: str) -> None:
    allowed = PARAM_LOCATIONS_V2 if family == "2.0" else PARAM_LOCATIONS_V3
    where = param.get("in")
    if where not in allowed:
        hint = ""
        if where in ("body", "formData"):
            hint = " ('in: body' and 'in: formData' are Swagger 2.0; OpenAPI 3 uses requestBody)"
        raise SpecError(
            f"Operation {_truncate(key, 120)}: parameter '{_truncate(str(param.get('name')), 60)}'"
            f" has an invalid location 'in: {_truncate(str(where), 30)}'{hint}.",
            "invalid_parameter",
        )


def _check(doc: Any, refs: Mapping[str, Any] | set[str]) -> tuple[str, str, _Resolver]:
    family, version = spec_family(doc)
    resolver = _check_refs(doc, refs)
    _check_structure(doc, family, resolver)
    return family, version, resolver


def check_document(doc: Any) -> str:
    """The sanity pass on a loaded document: version, internal refs that resolve without
    loops, path keys, parameter locations. Returns the family ("2.0", "3.0", "3.1")."""
    family, _version, _resolver = _check(doc, _ref_sites(doc))
    return family


# --------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------


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


def _operation(raw: _RawOperation) -> Operation:
    op = raw.op
    tags = op.get("tags")
    operation_id = op.get("operationId")
    summary = op.get("summary")
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


def parse_document(doc: Any) -> ParsedSpec:
    """Sanity pass + operation list for an already loaded (or bundled) document."""
    return _parsed(doc, _ref_sites(doc))


def _parsed(doc: Any, refs: Mapping[str, Any] | set[str]) -> ParsedSpec:
    family, _version, resolver = _check(doc, refs)
    operations = [_operation(raw) for raw in _iter_operations(doc, family, resolver)]
    return ParsedSpec(doc=doc, info=spec_info(doc, operations), operations=operations)


def parse_spec(
    data: str | bytes | bytearray,
    *,
    source_url: str | None = None,
    fetch: Callable[[str], str | bytes] | None = None,
    max_files: int = BUNDLE_MAX_FILES,
) -> ParsedSpec:
    """Load + sanity pass + operation list (no validation): "operation list ready".

    With ``source_url`` and ``fetch``, references to other files of the same origin are
    bundled first; without them any reference to another file is refused."""
    doc, refs = _load(data)
    if fetch is not None and source_url and any(_is_external(r) for r in refs):
        spec_family(doc)  # refuse non-specs before fetching anything
        doc = bundle(doc, source_url, fetch, max_files=max_files)
        return _parsed(doc, _ref_sites(doc))
    try:
        return _parsed(doc, refs)
    except SpecError as exc:
        ref = getattr(exc, "ref", None)
        where = _ref_where(refs, ref) if isinstance(ref, str) else ""
        line = _yaml_ref_line(data, ref) if where else None
        if line is None:
            raise
        raise SpecError(exc.message.replace(where, f"{where} (line {line})", 1),
                        exc.code) from None


def _yaml_ref_line(data: str | bytes | bytearray, ref: str) -> int | None:
    """The line of the first ``$ref: <ref>`` of a YAML text (error messages only; None for
    JSON, which has no lines worth naming when minified)."""
    text = decode_text(data)
    if text.lstrip()[:1] in ("{", "["):
        return None
    pattern = r"""["']?\$ref["']?\s*:\s*["']?""" + re.escape(ref) + r"""["']?\s*(?:[,}#]|$)"""
    match = re.search(pattern, text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None


# --------------------------------------------------------------------------------------------
# Base URL
# --------------------------------------------------------------------------------------------


def _fill_server_variables(url: str, variables: Any) -> str:
    if not isinstance(variables, dict):
        return url

    def value(match: re.Match[str]) -> str:
        var = variables.get(match.group(1))
        if isinstance(var, dict):
            if "default" in var and var["default"] is not None:
                return str(var["default"])
            enum = var.get("enum")
            if isinstance(enum, list) and enum:
                return str(enum[0])
        return match.group(0)

    return re.sub(r"\{([^{}]+)\}", value, url)


def default_base_url(doc: Mapping[str, Any], source_url: str | None = None) -> str | None:
    """The API base URL the spec suggests (no trailing slash), or None if it has none.

    OpenAPI 3: ``servers[0].url`` with variables filled from their defaults; a relative URL is
    resolved against ``source_url`` (where the spec was fetched from). Swagger 2.0:
    ``schemes`` (https preferred) + ``host`` + ``basePath``."""
    family, _version = spec_family(doc)
    if family == "2.0":
        host = doc.get("host")
        base_path = doc.get("basePath") if isinstance(doc.get("basePath"), str) else ""
        schemes = [s for s in doc.get("schemes") or [] if isinstance(s, str)]
        source = urlsplit(source_url) if source_url else None
        if "https" in schemes:
            scheme = "https"
        elif schemes:
            scheme = schemes[0]
        else:
            scheme = source.scheme if source and source.scheme else "https"
        if not isinstance(host, str) or not host:
            if not source or not source.netloc:
                return base_path.rstrip("/") or None
            host = source.netloc
        if base_path and not base_path.startswith("/"):
            base_path = "/" + base_path
        return f"{scheme}://{host}{base_path}".rstrip("/")
    servers = doc.get("servers")
    url = "/"
    if isinstance(servers, list) and servers and isinstance(servers[0], dict):
        first = servers[0]
        if isinstance(first.get("url"), str) and first["url"].strip():
            url = _fill_server_variables(first["url"].strip(), first.get("variables"))
    if not _SCHEME_RE.match(url) or url.startswith("//"):
        if source_url:
            url = urljoin(source_url, url)
        elif url.startswith("//"):
            url = "https:" + url
        else:
            return url.rstrip("/") or None
    return url.rstrip("/")


def operation_base_url(
    doc: Mapping[str, Any], key: str, source_url: str | None = None
) -> str | None:
    """Like ``default_base_url`` but honouring OpenAPI 3 ``servers`` set on the operation or
    its path item (Twilio sets them on almost every path)."""
    family, _version = spec_family(doc)
    if family != "2.0":
        for raw in _iter_operations(doc, family, _Resolver(doc)):
            if raw.key != key:
                continue
            for holder in (raw.op, raw.path_item):
                servers = holder.get("servers")
                if isinstance(servers, list) and servers:
                    return default_base_url({"openapi": "3.0.0", "servers": servers}, source_url)
            break
    return default_base_url(doc, source_url)


# --------------------------------------------------------------------------------------------
# Extraction of selected operations
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Request schemas of one operation
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Diff
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Bundling multi-file specs
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Validation (openapi-spec-validator, the backend prance uses)
# --------------------------------------------------------------------------------------------


class _ValidationTimeout(Exception):
    pass


def _truncate(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters (cut before collapsing whitespace, so a
    message that embeds a whole spec costs nothing)."""
    text = " ".join(str(text)[: limit * 4].split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _exception_text(exc: BaseException) -> str:
    """Short text for an unexpected exception. referencing's errors embed the whole document
    in ``str()``; their ``ref`` says what failed."""
    ref = getattr(exc, "ref", None)
    if isinstance(ref, str):
        return f"{type(exc).__name__}: {ref}"
    cause = exc.__cause__ or exc.__context__
    if cause is not None and isinstance(getattr(cause, "ref", None), str):
        return f"{type(exc).__name__}: {cause.ref}"  # type: ignore[attr-defined]
    return f"{type(exc).__name__}: {_truncate(str(exc), MAX_FINDING_CHARS)}"


class _IdSet(set):  # type: ignore[type-arg]
    """openapi-spec-validator keeps visited schema ids in lists (O(n^2)); same API, O(1)."""

    def append(self, item: Any) -> None:
        self.add(item)


_build_lock = threading.Lock()
_meta_validators: dict[tuple[int, int], tuple[Any, Any, Any]] = {}


def _crawled(cls: Any, schema: Any, format_checker: Any) -> Any:
    """A jsonschema validator for ``schema`` whose registry is crawled once.

    jsonschema re-crawls an uncrawled registry on every failed ``$dynamicRef`` anchor lookup
    (once per subschema of OpenAPI 3.1); building the validator once with a crawled registry
    makes 3.1 validation ~35% faster. No retrieval function: nothing remote is ever fetched.
    """
    from jsonschema_specifications import REGISTRY as JSONSCHEMA_REGISTRY
    from openapi_schema_validator._specifications import REGISTRY as OAS_REGISTRY
    from referencing import Resource
    from referencing.jsonschema import DRAFT202012

    resource = Resource.from_contents(schema, default_specification=DRAFT202012)
    uri = resource.id() or ""
    registry = JSONSCHEMA_REGISTRY.combine(OAS_REGISTRY).with_resource(uri, resource).crawl()
    return cls(schema, format_checker=format_checker, _resolver=registry.resolver(base_uri=uri))


def _schema_checker(validator_cls: Any, format_checker: Any) -> Callable[[Any], None]:
    """Same as ``validator_cls.check_schema`` (openapi-schema-validator's
    ``check_openapi_schema``) but with a cached, crawled meta-schema validator."""
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    key = (id(validator_cls), id(format_checker))
    hit = _meta_validators.get(key)
    if hit is None:
        meta_cls = validator_for(validator_cls.META_SCHEMA, default=validator_cls)
        meta = _crawled(meta_cls, validator_cls.META_SCHEMA, format_checker)
        with _build_lock:
            hit = _meta_validators.setdefault(key, (validator_cls, format_checker, meta))
    meta_validator = hit[2]

    def check(schema: Any) -> None:
        for error in meta_validator.iter_errors(schema):
            raise SchemaError.create_from(error)

    return check


def _locating(cls: type) -> type:
    """Subclass a keyword validator so that errors remember where (in the spec) they were
    found, and so that a deadline can stop validation between schemas."""

    def __call__(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:  # noqa: N807
        deadline = getattr(self.registry, "_switchboard_deadline", None)
        if deadline is not None and time.monotonic() > deadline:
            raise _ValidationTimeout
        location = None
        for arg in args:
            parts = getattr(arg, "parts", None)
            if isinstance(parts, tuple):
                location = parts
                break
        for error in cls.__call__(self, *args, **kwargs):
            if location is not None and getattr(error, "_switchboard_location", None) is None:
                error._switchboard_location = location
            yield error

    return type(f"Locating{cls.__name__}", (cls,), {"__call__": __call__})


def _fast_schema_keyword(cls: type) -> type:
    def __init__(self: Any, registry: Any) -> None:  # noqa: N807
        cls.__init__(self, registry)
        self.visited_schema_ids = _IdSet()
        self.meta_checked_schema_ids = _IdSet()
        self._switchboard_meta_results: dict[str, Any] = {}

    def validate_schema_meta(self: Any, schema: Any, schema_value: Any) -> Any:
        # Specs repeat identical schemas a lot (OpenAI: 2004 checks, 1309 distinct); the
        # meta-schema check only depends on the content, so check each distinct one once.
        try:
            key = json.dumps(schema_value, sort_keys=True)
        except (TypeError, ValueError):
            return cls._validate_schema_meta(self, schema, schema_value)
        if key not in self._switchboard_meta_results:
            result = cls._validate_schema_meta(self, schema, schema_value)
            self._switchboard_meta_results[key] = result
        return self._switchboard_meta_results[key]

    namespace: dict[str, Any] = {"__init__": __init__}
    if hasattr(cls, "_validate_schema_meta"):
        namespace["_validate_schema_meta"] = validate_schema_meta
    if hasattr(cls, "_get_validator_class_for_dialect"):  # 3.1

        def checker31(self: Any, schema: Any, schema_value: Any) -> Callable[[Any], None]:
            dialect_id = self._get_schema_dialect_id(schema, schema_value)
            validator_cls = self._get_validator_class_for_dialect(dialect_id)
            if validator_cls is None:
                raise ValueError(f"Unknown JSON Schema dialect: {dialect_id!r}")
            return _schema_checker(validator_cls, self.schema_validator_format_checker)

        namespace["_get_schema_checker"] = checker31
    elif hasattr(cls, "schema_validator_cls"):  # 3.0 / 2.0

        def checker30(self: Any, schema: Any, schema_value: Any) -> Callable[[Any], None]:
            validator_cls = self.schema_validator_cls
            return _schema_checker(validator_cls, validator_cls.FORMAT_CHECKER)

        namespace["_get_schema_checker"] = checker30
    return type(f"Fast{cls.__name__}", (cls,), namespace)


@functools.lru_cache(maxsize=8)
def _spec_validator_class(family: str, fast: bool = True) -> type:
    from openapi_spec_validator.validation import (
        OpenAPIV2SpecValidator,
        OpenAPIV30SpecValidator,
        OpenAPIV31SpecValidator,
    )

    base: Any = {
        "2.0": OpenAPIV2SpecValidator,
        "3.0": OpenAPIV30SpecValidator,
        "3.1": OpenAPIV31SpecValidator,
    }[family]
    keywords = dict(base.keyword_validators)
    namespace: dict[str, Any] = {}
    if fast:
        keywords["schema"] = _fast_schema_keyword(keywords["schema"])
        root = base.schema_validator  # a lazy proxy of a jsonschema validator instance
        namespace["schema_validator"] = _crawled(root.__class__, root.schema, None)
    namespace["keyword_validators"] = {name: _locating(k) for name, k in keywords.items()}
    return type(f"Switchboard{base.__name__}", (base,), namespace)


class _NoFetchHandlers(dict):  # type: ignore[type-arg]
    """Resolver handlers for jsonschema-path that claim every URI scheme and refuse it.

    jsonschema-path falls back to ``requests.get``/``urlopen`` (http, https, *file*) for any
    scheme missing from its handlers, so ``handlers={}`` would still fetch; this does not."""

    def __contains__(self, key: object) -> bool:
        return True

    def __getitem__(self, key: Any) -> Callable[[str], Any]:
        return _refuse_fetch


def _refuse_fetch(uri: str) -> Any:
    raise SpecError(
        f"The validator tried to fetch {_truncate(uri, 120)}; fetching is disabled.",
        "external_ref",
    )


def _error_path(error: Any) -> str:
    location = getattr(error, "_switchboard_location", None) or ()
    try:
        relative = tuple(error.absolute_path)
    except Exception:
        relative = ()
    return _pointer((*location, *relative))


def validate(
    doc: Mapping[str, Any],
    *,
    max_findings: int = MAX_FINDINGS,
    timeout: float | None = None,
) -> list[Finding]:
    """Validate a checked document (``check_document``/``parse_spec`` first: only internal
    refs) with openapi-spec-validator and return up to ``max_findings`` warnings.

    Never raises. Nothing is fetched: the document is passed as a dict and the resolver's
    handlers refuse every URL scheme (``file:`` included). ``timeout`` is checked between
    schemas, not inside the first whole-document schema pass, so the worker should still run
    this under a hard time limit.

    This is what prance's ``BaseParser(backend="openapi-spec-validator")`` does internally
    (``openapi_spec_validator.validate(spec)``), minus its problems: that stops at the first
    error, resolves refs with fetching handlers, and caches every validated spec forever."""
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    started = time.monotonic()
    try:
        family, _version = spec_family(doc)
        from jsonschema_path import SchemaPath

        try:
            cls = _spec_validator_class(family, True)
        except Exception:  # openapi-spec-validator internals changed: plain, slower path
            cls = _spec_validator_class(family, False)
        path = SchemaPath.from_dict(doc, handlers=_NoFetchHandlers(), resolved_cache_maxsize=1024)
        validator = cls(path)
        if timeout is not None:
            validator.keyword_validators_registry._switchboard_deadline = started + timeout
        # Unwrapped: the public iter_errors is an lru_cache on the instance (it would keep
        # every validated spec alive) and stops at nothing.
        iter_errors = inspect.unwrap(cls.iter_errors)
        for error in iter_errors(validator):
            message = _truncate(getattr(error, "message", None) or str(error), MAX_FINDING_CHARS)
            where = _error_path(error)
            if (message, where) in seen:
                continue
            seen.add((message, where))
            findings.append(Finding(message=message, path=where))
            if len(findings) >= max_findings:
                findings.append(
                    Finding(
                        message=f"Stopped after {max_findings} findings.",
                        code="truncated",
                    )
                )
                break
            if timeout is not None and time.monotonic() - started > timeout:
                raise _ValidationTimeout
    except _ValidationTimeout:
        findings.append(
            Finding(
                message=f"Validation stopped after {timeout:g} s; the spec was not fully checked.",
                code="timeout",
            )
        )
    except SpecError as exc:
        findings.append(Finding(message=exc.message, code=exc.code))
    except RecursionError:
        findings.append(
            Finding(message="Validation stopped: the spec is nested too deeply.", code="error")
        )
    except Exception as exc:
        findings.append(
            Finding(
                message=_truncate(f"Validation stopped: {_exception_text(exc)}", MAX_FINDING_CHARS),
                code="error",
            )
        )
    return findings


__all__ = [
    "BUNDLE_KEY",
    "BUNDLE_MAX_BYTES",
    "BUNDLE_MAX_FILES",
    "EXTRACT_KEY",
    "MAX_DEPTH",
    "MAX_FINDINGS",
    "MAX_NODES",
    "MAX_SELECTED_OPERATIONS",
    "MAX_SPEC_BYTES",
    "MAX_YAML_NODES",
    "SPEC_URI",
    "BodySchema",
    "Finding",
    "Operation",
    "OperationSchemas",
    "OperationsDiff",
    "ParamSchema",
    "ParsedSpec",
    "SpecError",
    "SpecInfo",
    "bundle",
    "check_document",
    "default_base_url",
    "diff_operations",
    "extract_operations",
    "find_external_refs",
    "list_operations",
    "load_document",
    "operation_base_url",
    "operation_fingerprints",
    "operation_schemas",
    "parse_document",
    "parse_spec",
    "spec_family",
    "spec_info",
    "validate",
]
