"""The text of a spec as the user gave it: decoding an upload, the size cap, NUL, an admin-API
JSON envelope, a stored body read back, and the text put back in the editor after a refusal."""

from __future__ import annotations

import json
from typing import Any

from .. import openapi, uploads
from ..models import SpecImport
from .base import IntegrationError, _spec_error


def _text_size(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))


#: Keys of an admin-API import envelope (``{"url": ...}`` / ``{"spec": ...}``).
ENVELOPE_KEYS = frozenset({"url", "spec"})
#: Top-level keys that make a JSON object a (maybe unsupported) API description.
SPEC_MARKERS = frozenset({"openapi", "swagger", "swaggerVersion", "asyncapi"})


def is_import_envelope(parsed: Any) -> bool:
    return (isinstance(parsed, dict) and bool(ENVELOPE_KEYS & parsed.keys())
            and not SPEC_MARKERS & parsed.keys())


def unwrap_json_body(text: str) -> str:
    """The spec's text from an admin-API JSON body read by the worker: the envelope's
    ``spec`` (a string, or the JSON object), or the body itself when it is not an envelope."""
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return text  # the spec reader says what is wrong, as for a paste
    if not is_import_envelope(body):
        return text
    if "url" in body or "spec" not in body:
        raise IntegrationError("Send either url or spec.", "invalid")
    spec = body["spec"]
    del body
    return spec if isinstance(spec, str) else json.dumps(spec, ensure_ascii=False)


def stored_text(name: str, kind: str = uploads.SPEC) -> str:
    """The text of a stored body (size-capped, decoded, an API envelope unwrapped)."""
    limit = openapi.MAX_SPEC_BYTES if kind == uploads.SPEC else MAX_JSON_BODY
    try:
        data = uploads.read_bytes(name, limit)
        if kind == uploads.SPEC:
            text = _decode_stored(data)
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntegrationError(f"The body is not UTF-8 (invalid byte at offset {exc.start}).",
                               "parse_error") from None
    except uploads.TooLarge:
        raise spec_too_large(None) from None
    except FileNotFoundError:
        raise IntegrationError("The uploaded spec is gone; send it again.", "upload_missing",
                               "spec") from None
    if kind == uploads.JSON_BODY:
        text = unwrap_json_body(text)
    return text


def _decode_stored(data: bytes) -> str:
    try:
        return decode_spec(data)
    except IntegrationError as exc:
        # A text stored with its lone surrogates (a JSON object's "\ud800", as Python holds
        # it): read it back as it was, so that the spec reader names the bad character.
        try:
            return data.decode("utf-8-sig", "surrogatepass")
        except UnicodeDecodeError:
            raise exc from None


#: A spec sent inside a JSON envelope (``{"spec": "..."}``) grows when its text is escaped.
MAX_JSON_BODY = openapi.MAX_SPEC_BYTES * 3 // 2


def text_for_editor(spec_import: SpecImport) -> str | None:
    """The text of a pasted or uploaded spec the worker refused, to put back in the editor
    (nothing typed is lost); None when there is none (or it is not text)."""
    if (spec_import.source != SpecImport.Source.PASTE
            or spec_import.status != SpecImport.Status.FAILED):
        return None
    found = uploads.find(spec_import.public_id)
    if found is None:
        return None
    try:
        data = uploads.read_bytes(found[0], MAX_JSON_BODY)
        return openapi.decode_text(data[:openapi.MAX_SPEC_BYTES])
    except (uploads.TooLarge, openapi.SpecError, FileNotFoundError):
        return None


def spec_too_large(size: int | None) -> IntegrationError:
    """The refusal of a spec over the size cap, for input layers that measure it first
    (``size`` None: only known to be over the cap)."""
    return _spec_error(openapi.too_large_error(size), "spec")


def decode_spec(data: bytes) -> str:
    """Text of an uploaded spec (UTF-8, or UTF-16 with a BOM), or a clear refusal."""
    try:
        return openapi.decode_text(data)
    except openapi.SpecError as exc:
        raise _spec_error(exc, "spec") from None


def _refuse_nul(text: str) -> None:
    # PostgreSQL can't store NUL in text or jsonb; no real spec has one. (A NUL made by an
    # escape, JSON "\u0000" or YAML "\0", is refused by the parser, where it is.)
    if "\x00" in text:
        raise IntegrationError(openapi.NUL_MESSAGE, "not_json_or_yaml", "spec")
