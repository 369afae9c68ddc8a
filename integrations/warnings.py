"""Validator warnings in plain words, grouped by the operation they are in.

The import stores what openapi-spec-validator (jsonschema) said: its message, e.g.
``[{'$ref': '#/definitions/defs_channel'}, {'type': 'null'}] is not of type 'object',
'boolean'``, and a JSON pointer with ``~1``-escaped path segments. This turns them into what
the wizard shows: groups headed by the operation (``GET /admin.conversations.search —
response 200``) or the shared schema, each warning one line of words
(``“items” is a list, but it must be an object or true/false.``) with the pointer unescaped.

Only the stored message and pointer are read (the spec is not loaded again), so messages the
validator cut short (``MAX_FINDING_CHARS``) are described from what is left. A message of a
shape not known here is shown as it is: it is already words (openapi-spec-validator's own
checks, the import's "Validation stopped after 30 s")."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

#: Warnings shown before the rest collapse (the import page's ``<details>``).
SHOWN_FIRST = 5

_TYPE_WORDS = {
    "object": "an object", "boolean": "true/false", "string": "text", "number": "a number",
    "integer": "a whole number", "array": "a list", "null": "null",
}
_SECTION_WORDS = {
    "schemas": "Schema", "definitions": "Schema", "parameters": "Shared parameter",
    "responses": "Shared response", "requestBodies": "Shared request body",
    "securitySchemes": "Security scheme", "securityDefinitions": "Security scheme",
    "headers": "Shared header", "examples": "Example", "links": "Link",
    "callbacks": "Callback", "pathItems": "Path item",
}

_NOT_OF_TYPE = re.compile(r"^(?P<value>.*) is not of type (?P<types>'[^']*'(?:, '[^']*')*)$",
                          re.S)
_NOT_ONE_OF = re.compile(r"^(?P<value>.*) is not one of (?P<options>\[.*\])$", re.S)
_NOT_VALID_UNDER = re.compile(r"^(?P<value>.*) is not valid under any of the given schemas$",
                              re.S)
_VALID_UNDER_EACH = re.compile(r"^(?P<value>.*) is valid under each of .*$", re.S)
_NON_UNIQUE = re.compile(r"^(?P<value>.*) has non-unique elements$", re.S)
_REQUIRED = re.compile(r"^'(?P<name>[^']*)' is a required property$")
_ADDITIONAL = re.compile(r"^Additional properties are not allowed \((?P<names>.*) (?:was|were) "
                         r"unexpected\)$", re.S)
_NO_REGEX = re.compile(r"^'(?P<name>[^']*)' does not match any of the regexes: .*$", re.S)
_NO_MATCH = re.compile(r"^(?P<value>.*) does not match (?P<pattern>'.*')$", re.S)
_TOO = re.compile(r"^(?P<value>.*) is too (?P<what>short|long)$", re.S)
_NON_EMPTY = re.compile(r"^(?P<value>.*) should be non-empty$", re.S)
_BOUND = re.compile(r"^(?P<value>.*) is (?P<what>less than the minimum|greater than the maximum"
                    r"|less than or equal to the minimum|greater than or equal to the maximum)"
                    r" of (?P<bound>.*)$", re.S)
_FORMAT = re.compile(r"^(?P<value>.*) is not a '(?P<format>[^']*)'$", re.S)
_CUT = "..."
#: Slack's 19: JSON Schema's tuple form of ``items``, which OpenAPI 2.0/3.0 do not have.
_ITEMS_LIST = "“items” is a list of schemas, but it must be a single schema."


def unescape(token: str) -> str:
    """One JSON pointer token as written in the spec (RFC 6901: ``~1`` is ``/``, ``~0`` is
    ``~``, in that order)."""
    return token.replace("~1", "/").replace("~0", "~")


def pointer_tokens(pointer: str) -> list[str]:
    if not pointer or not pointer.startswith("/"):
        return []
    return [unescape(t) for t in pointer[1:].split("/")]


@dataclass
class ReadableWarning:
    text: str  # one line of words
    where: str  # the pointer inside its group, unescaped ("" = the group itself)
    pointer: str  # the stored (escaped) pointer


@dataclass
class WarningGroup:
    title: str  # "GET /admin.conversations.search — response 200", "Schema Pet", ...
    operation: str = ""  # the operation key ("get:/pets") when the group is one operation
    path: str = ""  # the path ("/pets") when the group is a path item (all its operations)
    items: list[ReadableWarning] = field(default_factory=list)


def _value_words(text: str, cut: bool) -> str:
    """What kind of value a Python repr (possibly cut short) shows."""
    text = text.strip()
    if not text:
        return "a value"
    if text.startswith("["):
        return "an empty list" if text == "[]" else "a list"
    if text.startswith("{"):
        return "an empty object" if text == "{}" else "an object"
    if text == "None":
        return "null"
    if text in ("True", "False"):
        return text.lower()
    if text[0] in "'\"":
        if cut or len(text) > 42:
            return "a text"
        try:
            return f"“{ast.literal_eval(text)}”"
        except (ValueError, SyntaxError):
            return "a text"
    if re.fullmatch(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text, re.I):
        return f"the number {text}"
    return "a value"


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _or_list(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " or " + words[-1]


def _subject(tokens: list[str]) -> str:
    """What a warning is about: the last keyword of its pointer (“items”), or the item of a
    list (“item 2 of oneOf”)."""
    if not tokens:
        return "The spec"
    last = tokens[-1]
    if last.isdigit() and len(tokens) > 1:
        return f"Item {int(last) + 1} of “{tokens[-2]}”"
    return f"“{last}”"


def describe(message: str, pointer: str = "") -> str:
    """One line of plain words for one stored validator message at ``pointer``."""
    message = " ".join((message or "").split())
    cut = message.endswith(_CUT)
    tokens = pointer_tokens(pointer)
    subject = _subject(tokens)
    if m := _REQUIRED.match(message):
        return f"The required field “{m['name']}” is missing."
    if m := _ADDITIONAL.match(message):
        names = [n.strip().strip("'\"") for n in m["names"].split(",") if n.strip()]
        label = "field" if len(names) == 1 else "fields"
        return f"Unknown {label} here: {', '.join(names)}."
    if m := _NO_REGEX.match(message):
        return f"“{m['name']}” is not a field allowed here."
    if m := _NOT_OF_TYPE.match(message):
        value = _value_words(m["value"], False)
        types = [_TYPE_WORDS.get(t.strip("'"), t.strip("'")) for t in m["types"].split(", ")]
        text = f"{subject} is {value}, but it must be {_or_list(types)}."
        if tokens and tokens[-1] == "items" and m["value"].lstrip().startswith("["):
            return _ITEMS_LIST
        return text
    if m := _NOT_ONE_OF.match(message):
        options = _literal(m["options"])
        shown = (", ".join(f"“{o}”" for o in options[:8]) if isinstance(options, list)
                 else m["options"])
        return f"{subject} is {_value_words(m['value'], False)}, but it must be one of {shown}."
    if m := _NOT_VALID_UNDER.match(message):
        return (f"{subject} is {_value_words(m['value'], False)}, which matches none of the "
                "forms allowed here.")
    if m := _VALID_UNDER_EACH.match(message):
        return f"{subject} matches more than one of the forms where only one may match."
    if m := _NON_UNIQUE.match(message):
        values = _literal(m["value"])
        if isinstance(values, list):
            seen: set[str] = set()
            twice: list[str] = []
            for v in values:
                key = repr(v)
                if key in seen and key not in {repr(t) for t in twice}:
                    twice.append(v)
                seen.add(key)
            if twice and all(isinstance(v, str) for v in twice):
                return (f"{subject} lists {', '.join(f'“{v}”' for v in twice[:8])} more than "
                        "once.")
        return f"{subject} lists the same item more than once."
    if m := _NO_MATCH.match(message):
        return (f"{subject} is {_value_words(m['value'], False)}, which does not have the "
                f"expected form ({m['pattern'].strip(chr(39))}).")
    if m := _TOO.match(message):
        return f"{subject} is too {m['what']}."
    if m := _NON_EMPTY.match(message):
        return f"{subject} must not be empty."
    if m := _BOUND.match(message):
        return f"{subject} is {_value_words(m['value'], False)}, {m['what']} of {m['bound']}."
    if m := _FORMAT.match(message):
        return f"{subject} is {_value_words(m['value'], False)}, not a valid {m['format']}."
    if cut and message[:1] in "[{'\"":
        # the validator's message embedded a long value and was cut before saying what is
        # wrong; its start still tells the kind of value
        value = _value_words(message[:-len(_CUT)], True)
        if tokens and tokens[-1] == "items" and message.startswith("["):
            return _ITEMS_LIST
        return f"{subject} is {value} the validator does not accept here."
    return message


def _group_of(tokens: list[str]) -> tuple[str, str, str, int]:
    """(title, operation key, path, tokens used by the title) of a pointer."""
    if len(tokens) >= 2 and tokens[0] == "paths":
        path = tokens[1]
        if len(tokens) >= 3 and tokens[2] in METHODS:
            method = tokens[2]
            title = f"{method.upper()} {path}"
            used = 3
            rest = tokens[3:]
            if len(rest) >= 2 and rest[0] == "responses":
                title += f" — response {rest[1]}"
                used += 2
            elif len(rest) >= 2 and rest[0] == "parameters" and rest[1].isdigit():
                title += f" — parameter {int(rest[1]) + 1}"
                used += 2
            elif rest and rest[0] == "requestBody":
                title += " — request body"
                used += 1
            return title, f"{method}:{path}", "", used
        return f"{path} (every operation of the path)", "", path, 2
    if len(tokens) >= 3 and tokens[0] == "components":
        word = _SECTION_WORDS.get(tokens[1], tokens[1])
        return f"{word} {tokens[2]}", "", "", 3
    if len(tokens) >= 2 and tokens[0] in _SECTION_WORDS:
        return f"{_SECTION_WORDS[tokens[0]]} {tokens[1]}", "", "", 2
    if tokens:
        return f"“{tokens[0]}”", "", "", 1
    return "The whole spec", "", "", 0


def readable(warnings: Iterable[Mapping[str, Any]]) -> list[WarningGroup]:
    """The stored warnings (``SpecImport.warnings``: message, location, code) as groups, in the
    order of their first warning."""
    groups: dict[str, WarningGroup] = {}
    for w in warnings:
        pointer = str(w.get("location") or "")
        tokens = pointer_tokens(pointer)
        title, operation, path, used = _group_of(tokens)
        group = groups.get(title)
        if group is None:
            group = groups[title] = WarningGroup(title=title, operation=operation, path=path)
        group.items.append(ReadableWarning(text=describe(str(w.get("message") or ""), pointer),
                                           where="/".join(tokens[used:]), pointer=pointer))
    return list(groups.values())


def split_shown(groups: list[WarningGroup], first: int = SHOWN_FIRST
                ) -> tuple[list[WarningGroup], list[WarningGroup]]:
    """The groups shown at once (up to ``first`` warnings, whole groups, at least one) and the
    rest (collapsed)."""
    shown: list[WarningGroup] = []
    count = 0
    for i, group in enumerate(groups):
        if shown and count + len(group.items) > first:
            return shown, groups[i:]
        shown.append(group)
        count += len(group.items)
    return shown, []


def affected_operations(groups: Iterable[WarningGroup], operation_keys: Iterable[str]
                        ) -> dict[str, int]:
    """Operation key -> number of warnings in it (warnings of a path item count for each of
    its operations)."""
    by_path: dict[str, int] = {}
    counts: dict[str, int] = {}
    for group in groups:
        if group.operation:
            counts[group.operation] = counts.get(group.operation, 0) + len(group.items)
        elif group.path:
            by_path[group.path] = by_path.get(group.path, 0) + len(group.items)
    if by_path:
        for key in operation_keys:
            path = key.partition(":")[2]
            if path in by_path:
                counts[key] = counts.get(key, 0) + by_path[path]
    return counts


def as_payload(groups: Iterable[WarningGroup]) -> list[dict[str, Any]]:
    """For the import status JSON."""
    return [{"title": g.title, "operation": g.operation,
             "items": [{"text": i.text, "where": i.where} for i in g.items]} for g in groups]
