"""YAML built straight from the libyaml event stream: aliases and anchors refused, nesting
and node count capped as it goes (``_load_yaml``)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from .limits import (
    MAX_DEPTH,
    MAX_YAML_NODES,
)
from .model import (
    SpecError,
    _too_deep,
    _too_many_nodes,
    _truncate,
)
from .pointers import _pointer

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
