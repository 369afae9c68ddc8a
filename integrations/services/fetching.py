"""Fetching a spec from its URL through the SSRF-safe client (``egress``): answers a user can
act on for every failure, HTML and auth walls refused, multi-file specs bundled under a
count, size and time budget."""

from __future__ import annotations

import json
import time
from typing import Any

from .. import egress, openapi
from .base import IntegrationError, bundle_deadline, bundle_max_files
from .spec_text import _text_size, decode_spec

FETCH_ACCEPT = ("application/json, application/yaml, application/x-yaml, text/yaml, "
                "text/plain;q=0.9, */*;q=0.5")
_HTML_START = (b"<!doctype html", b"<html", b"<head", b"<body")


def egress_failure(exc: egress.EgressError, what: str = "the spec") -> tuple[str, str]:
    """(code, message) for a fetch that failed: words a user can act on."""
    reason = exc.reason
    if isinstance(exc, egress.EgressTooManyRedirects):
        return "too_many_redirects", f"Fetching {what} was redirected more than 3 times."
    if isinstance(exc, egress.EgressBlocked):
        return "blocked", (f"Switchboard won't fetch {what} from this address ({reason}). "
                           "Spec URLs must be public internet addresses.")
    if isinstance(exc, egress.EgressTimeout):
        return "timeout", f"The server did not answer in time while sending {what}."
    if isinstance(exc, egress.EgressTooLarge):
        limit = openapi.MAX_SPEC_BYTES // 1048576
        return "too_large", f"{what.capitalize()} is too large; the limit is {limit} MiB."
    if isinstance(exc, egress.EgressConnectError):
        return "unreachable", (f"The server could not be reached ({reason}). Check the URL and "
                               "that the server is reachable from the internet.")
    return "unreachable", f"The server's answer could not be read ({reason})."


def _looks_like_html(resp: egress.EgressResponse) -> bool:
    content_type = (resp.headers.get("content-type") or "").lower()
    if "html" in content_type:
        return True
    return resp.body[:512].lstrip().lower().startswith(_HTML_START)


def _check_response(resp: egress.EgressResponse, url: str, what: str) -> None:
    status = resp.status
    if status in (401, 403, 407):
        raise openapi.SpecError(
            f"The server needs authentication to send {what} (HTTP {status}). The spec URL "
            "must be publicly readable; or download the file and paste it instead.",
            "needs_auth")
    if status == 404:
        raise openapi.SpecError(f"Nothing was found at {url} (HTTP 404).", "not_found")
    if status >= 400:
        raise openapi.SpecError(f"The server answered HTTP {status} instead of {what}.",
                                "http_error")
    if 300 <= status < 400:
        raise openapi.SpecError(f"The server answered HTTP {status} without a usable redirect.",
                                "http_error")
    if _looks_like_html(resp):
        raise openapi.SpecError(
            f"The URL returned a web page (HTML) instead of {what}. Link to the raw JSON or "
            "YAML file (on GitHub, the “Raw” button).", "html")


def fetch_spec(url: str) -> tuple[bytes, str]:
    """GET the spec through the SSRF-safe client (≤3 redirects). Returns (body, final URL)."""
    resp = egress.request("GET", url, headers={"Accept": FETCH_ACCEPT}, max_redirects=3,
                          max_bytes=openapi.MAX_SPEC_BYTES)
    _check_response(resp, url, "the spec")
    if not resp.body.strip():
        raise openapi.SpecError("The server sent an empty answer instead of the spec.", "empty")
    return resp.body, resp.url


def _bundle_fetcher(deadline: float) -> Any:
    budget = {"bytes": openapi.BUNDLE_MAX_BYTES}

    def fetch(url: str) -> bytes:
        if time.monotonic() > deadline:
            raise openapi.SpecError(
                "Fetching the files this spec refers to took too long. Bundle the spec into "
                "one file (for example with `redocly bundle`) and import that.", "timeout")
        what = f"{url} (a file the spec refers to)"
        try:
            resp = egress.request("GET", url, headers={"Accept": FETCH_ACCEPT},
                                  max_bytes=max(budget["bytes"], 1))
        except egress.EgressError as exc:
            code, message = egress_failure(exc, what)
            raise openapi.SpecError(message, code) from None
        _check_response(resp, url, what)
        budget["bytes"] -= len(resp.body)
        return resp.body

    return fetch


def parse_fetched(data: bytes, final_url: str) -> tuple[openapi.ParsedSpec, str]:
    """Parse a fetched spec, bundling files beside it (same origin, count/size/time limits).
    Returns the parsed spec and the text to store (one document, JSON when bundled)."""
    if len(data) > openapi.MAX_SPEC_BYTES:
        raise openapi.too_large_error(len(data))
    parsed = openapi.parse_spec(data, source_url=final_url,
                                fetch=_bundle_fetcher(time.monotonic() + bundle_deadline()),
                                max_files=bundle_max_files())
    if openapi.BUNDLE_KEY in parsed.doc:
        text = json.dumps(parsed.doc, ensure_ascii=False, separators=(",", ":"))
    else:
        try:
            text = decode_spec(data)
        except IntegrationError:
            text = json.dumps(parsed.doc, ensure_ascii=False, separators=(",", ":"))
    if _text_size(text) > openapi.MAX_SPEC_BYTES:
        raise openapi.too_large_error(_text_size(text))
    return parsed, text
