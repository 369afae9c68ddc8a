"""The public data types of the spec pipeline, ``SpecError`` and the refusals several steps
raise (too large, too deep, too many values), and ``_truncate`` for messages."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote

from .limits import (
    MAX_SPEC_BYTES,
    SPEC_URI,
)


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


def _too_deep(limit: int, where: str = "") -> SpecError:
    at = f" at {where}" if where else ""
    return SpecError(f"The spec is nested too deeply (more than {limit} levels){at}.", "too_deep")


def _too_many_nodes(limit: int, what: str = "values") -> SpecError:
    return SpecError(f"The spec is too big: more than {limit:,} {what}.", "too_many_nodes")


def _truncate(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters (cut before collapsing whitespace, so a
    message that embeds a whole spec costs nothing)."""
    text = " ".join(str(text)[: limit * 4].split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
