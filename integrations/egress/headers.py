"""Inputs of a request: a path parameter percent-encoded as one segment, a header name and
value checked, hop-by-hop headers stripped."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from urllib.parse import quote, unquote

from urllib3 import HTTPHeaderDict

from .base import HOP_BY_HOP_HEADERS, EgressInvalidInput
from .urls import _TOKEN_RE

#: C0 control characters but tab, and DEL (CR, LF and NUL among them).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def validate_path_param(value: str) -> str:
    """Return ``value`` fully percent-encoded as one path segment, or raise.

    Refuses ``/``, ``\\``, ``?``, ``#``, control characters and ``.``/``..``, also after any
    number of rounds of percent-decoding (an upstream may decode twice).
    """
    if not isinstance(value, str) or value == "":
        raise EgressInvalidInput("path parameter must be a non-empty string")
    current = value
    for _ in range(5):
        if current in (".", "..") or any(c in current for c in "/\\?#"):
            raise EgressInvalidInput("path parameter must be a single path segment")
        if any(unicodedata.category(c) == "Cc" for c in current):
            raise EgressInvalidInput("path parameter contains control characters")
        decoded = unquote(current)
        if decoded == current:
            break
        current = decoded
    else:
        raise EgressInvalidInput("path parameter is encoded too many times")
    return quote(value, safe="")


def validate_header(name: str, value: str) -> None:
    """Raise ``EgressInvalidInput`` for an unusable header. The value is never echoed."""
    if not isinstance(name, str) or not _TOKEN_RE.match(name):
        raise EgressInvalidInput("invalid header name")
    if not isinstance(value, str):
        raise EgressInvalidInput(f"header {name!r} must have a string value")
    if _CONTROL_RE.search(value):
        raise EgressInvalidInput(f"header {name!r} contains CR, LF, NUL or control characters")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise EgressInvalidInput(f"header {name!r} is not ISO-8859-1 text") from None


def strip_hop_by_hop(headers: Mapping[str, str]) -> HTTPHeaderDict:
    """Copy of ``headers`` without hop-by-hop headers (also those named in Connection)."""
    source = headers if isinstance(headers, HTTPHeaderDict) else HTTPHeaderDict(headers)
    drop = set(HOP_BY_HOP_HEADERS)
    for value in source.getlist("connection"):
        drop.update(token.strip().lower() for token in value.split(","))
    out = HTTPHeaderDict()
    for name, value in source.iteritems():
        if name.lower() not in drop:
            out.add(name, value)
    return out
