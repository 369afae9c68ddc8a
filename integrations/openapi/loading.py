"""Step 1, loading: size cap, UTF-8/UTF-16 text, JSON or YAML, keys made strings, values made
JSON, NUL and lone surrogates refused (``load_document``)."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import math
import re
from typing import Any

from .limits import (
    _JSON_SCALARS,
    JSON_AS_YAML_MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    MAX_SPEC_BYTES,
)
from .model import (
    SpecError,
    _too_deep,
    _too_many_nodes,
    _truncate,
    too_large_error,
)
from .pointers import _link_pointer
from .refs import (
    _ref_sites,
)
from .yaml_loader import (
    _load_yaml,
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
