"""The API base URL a spec suggests, for the whole spec or one operation."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

from .limits import (
    _SCHEME_RE,
)
from .operations import (
    _iter_operations,
)
from .refs import (
    _Resolver,
)
from .versions import spec_family


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
