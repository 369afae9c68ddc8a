"""The API's name in a spec title, for the automatic slug of a new integration.

Spec titles often carry version or format text ("Swagger Petstore - OpenAPI 3.0",
"Stripe API (v1)", "Twilio API 2010-04-01"); a slug built from that text changes with every
version and reads badly in code (``integrations.custom.call("swagger-petstore-openapi-30")``).
``api_name`` keeps the name: version numbers, dates, "v1"/"version 2", the spec format with its
version ("OpenAPI 3.0", "Swagger 2.0") and trailing generic words ("API", "OpenAPI", "spec")
are dropped. The name field keeps the full title; only the suggested slug uses this."""

from __future__ import annotations

import re

_FORMAT_VERSION = re.compile(r"\b(?:openapi|swagger|oas)\s*v?\d+(?:\.\d+)*\b", re.I)
_VERSION_WORD = re.compile(r"\b(?:v|ver\.?|version)\s*\d+(?:\.\d+)*(?:[-.]?\w+)?\b", re.I)
_DATE = re.compile(r"\b\d{4}-\d{2}(?:-\d{2})?\b")
_NUMBER_VERSION = re.compile(r"(?<![\w.])\d+(?:\.\d+)+(?![\w.])")
_EMPTY_BRACKETS = re.compile(r"[(\[{]\s*[)\]}]")
#: Words that say what the document is, not which API: dropped at the end of the name.
_GENERIC_TAIL = {"api", "apis", "openapi", "swagger", "spec", "specification", "definition",
                 "rest", "oas", "documentation", "docs", "reference"}
#: Shorter than this, the generic tail stays ("My API" -> my-api, not my).
MIN_NAME = 3
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def api_name(title: str) -> str:
    """The API's name in ``title`` (see the module docstring)."""
    text = title or ""
    for pattern in (_FORMAT_VERSION, _DATE, _VERSION_WORD, _NUMBER_VERSION):
        text = pattern.sub(" ", text)
    text = _EMPTY_BRACKETS.sub(" ", text)
    words = list(_WORD.finditer(text))
    end = len(words)
    while (end > 1 and words[end - 1].group().lower() in _GENERIC_TAIL
           and words[end - 2].end() - words[0].start() >= MIN_NAME):
        end -= 1
    if not words:  # only version text ("OpenAPI 3.0"): the slug falls back to "api"
        return ""
    return text[:words[end - 1].end()].strip(" -–—:|,/")
