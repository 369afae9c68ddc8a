"""Which spec a document is: Swagger 2.0, OpenAPI 3.0 or 3.1 (``spec_family``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .model import (
    SpecError,
    _truncate,
)


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
