"""The result panel of Try it: what ``proxy.handle`` answered, in plain words.

The upstream's response is the user's to see (status, a few chosen headers, the body: JSON as
a folding tree, images shown, text as text). The integration's own header values never are:
the caller passes them in ``hidden`` and every one found in the response is replaced (an
upstream that echoes its request headers would otherwise show the workspace's API key to a
member who may not read it on the integration's page either).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

HIDDEN = "[hidden: a configured header value]"
#: Response headers shown first; the rest are one click away.
CHOSEN_HEADERS = ("content-type", "x-request-id", "request-id", "retry-after", "location",
                  "etag")
MAX_TREE_NODES = 1500
OPEN_DEPTH = 2  # JSON containers deeper than this start folded
MAX_RAW_CHARS = 200_000
MAX_IMAGE_BYTES = 4 * 1024 * 1024


@dataclass
class Result:
    http_status: int  # what the proxy answered (200 whenever the upstream answered)
    tone: str  # ok / warn / error
    headline: str
    detail: str = ""
    code: str = ""
    success: bool | None = None  # the envelope's success (upstream 2xx)
    upstream_status: int | None = None
    sandbox: bool = False
    request_id: str = ""
    credits: int | None = None
    retry_after: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    other_headers: list[tuple[str, str]] = field(default_factory=list)
    kind: str = "empty"  # json / text / image / binary / empty / none
    tree: SafeString = mark_safe("")  # noqa: S308 (built from escaped parts below)
    raw: str = ""
    raw_truncated: bool = False
    image_src: str = ""
    content_type: str = ""
    size: int = 0
    field_errors: Any = None


def hidden_values(values: Iterable[str]) -> list[str]:
    """The strings to hide: each value, and the token of an ``Authorization: Bearer x``-style
    value; too-short ones are skipped (hiding "1" would blank every digit)."""
    out: set[str] = set()
    for value in values:
        value = (value or "").strip()
        if len(value) >= 4:
            out.add(value)
        for part in value.split():
            if len(part) >= 8:
                out.add(part)
    return sorted(out, key=len, reverse=True)


def _redact_text(text: str, hidden: list[str]) -> str:
    for value in hidden:
        if value in text:
            text = text.replace(value, HIDDEN)
    return text


def redact(value: Any, hidden: list[str]) -> Any:
    if not hidden:
        return value
    if isinstance(value, str):
        return _redact_text(value, hidden)
    if isinstance(value, list):
        return [redact(v, hidden) for v in value]
    if isinstance(value, dict):
        return {_redact_text(str(k), hidden): redact(v, hidden) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- the JSON tree


class _Budget:
    def __init__(self, nodes: int) -> None:
        self.left = nodes


def _scalar_html(value: Any) -> SafeString:
    if value is None:
        return format_html('<span class="j-null">null</span>')
    if isinstance(value, bool):
        return format_html('<span class="j-bool">{}</span>', "true" if value else "false")
    if isinstance(value, int | float):
        return format_html('<span class="j-num">{}</span>', json.dumps(value))
    return format_html('<span class="j-str">{}</span>', json.dumps(str(value),
                                                                   ensure_ascii=False))


def _node(value: Any, depth: int, budget: _Budget) -> SafeString:
    budget.left -= 1
    if not isinstance(value, dict | list) or not value:
        if isinstance(value, dict | list):
            return format_html('<span class="j-empty">{}</span>',
                               "{}" if isinstance(value, dict) else "[]")
        return _scalar_html(value)
    is_dict = isinstance(value, dict)
    items = list(value.items()) if is_dict else list(enumerate(value))
    count = len(items)
    summary = (f"{{ {count} key{'s' if count != 1 else ''} }}" if is_dict
               else f"[ {count} item{'s' if count != 1 else ''} ]")
    rows = []
    for n, (key, item) in enumerate(items):
        if budget.left <= 0:
            rows.append(format_html('<li class="muted">… {} more (see the raw JSON)</li>',
                                    count - n))
            break
        label = (format_html('<span class="j-key">{}</span>: ',
                             json.dumps(str(key), ensure_ascii=False)) if is_dict
                 else format_html('<span class="j-index">{}</span>: ', key))
        rows.append(format_html("<li>{}{}</li>", label, _node(item, depth + 1, budget)))
    opened = " open" if depth < OPEN_DEPTH else ""
    return format_html('<details class="j-node"{}><summary>{}</summary><ul>{}</ul></details>',
                       opened, summary, mark_safe("".join(rows)))  # noqa: S308 (escaped rows)


def json_tree(value: Any) -> SafeString:
    """A folding view of a JSON value: <details> per object and array (the first levels
    open), every key and value escaped; past ``MAX_TREE_NODES`` the raw JSON has the rest."""
    return format_html('<div class="json-tree">{}</div>', _node(value, 0, _Budget(MAX_TREE_NODES)))


# --------------------------------------------------------------------------- the panel


def _headline(status: int, code: str, detail: str, body: dict[str, Any]) -> tuple[str, str]:
    if status == 400:
        return "error", ("Not sent: some values don't fit this operation. The fields are "
                         "marked above; nothing was charged.")
    if status == 402:
        return "error", "Not sent: no credits left for this call. Nothing was charged."
    if status == 429:
        wait = body.get("retry_after")
        after = f" Try again in {wait} seconds." if wait else ""
        return "warn", f"Not sent: too many calls for this app right now.{after}"
    if status == 404:
        return "error", "Not sent: the integration or the operation wasn't found."
    if status == 503:
        return "error", "Not sent: the integration can't be used right now."
    if status == 504:
        return "error", ("The external API didn't answer in time. It may still have run the "
                         "request.")
    if status == 502:
        if body.get("phase") == "not_sent" or code == "egress_blocked":
            return "error", "Not sent: the external API couldn't be reached."
        return "error", "The call failed on the way to or from the external API."
    return "error", f"The call failed ({status})."


def from_proxy(status: int, body: dict[str, Any], headers: dict[str, str], *,
               hidden: list[str], credits: int | None, sandbox: bool = False) -> Result:
    request_id = headers.get("X-Request-Id", "")
    if status != 200:
        code = str(body.get("code") or "")
        detail = _redact_text(str(body.get("detail") or ""), hidden)
        tone, headline = _headline(status, code, detail, body)
        return Result(http_status=status, tone=tone, headline=headline, detail=detail,
                      code=code, request_id=request_id, credits=credits,
                      retry_after=str(headers.get("Retry-After", "")), kind="none",
                      field_errors=body.get("errors"))
    success = body.get("success") is True
    upstream = body.get("status_code")
    answered = f"The external API answered {upstream}"
    if body.get("sandbox") or sandbox:
        answered = f"Sandbox: answered {upstream} from the spec (nothing sent, free)"
    result = Result(http_status=200, tone="ok" if success else "warn",
                    headline=answered + ("." if success else ": not a success."),
                    success=success, upstream_status=upstream if isinstance(upstream, int)
                    else None, sandbox=bool(body.get("sandbox") or sandbox),
                    request_id=request_id, credits=credits)
    got = body.get("headers") if isinstance(body.get("headers"), dict) else {}
    for name, value in sorted(got.items()):
        pair = (str(name), _redact_text(str(value), hidden))
        lowered = pair[0].lower()
        if lowered in CHOSEN_HEADERS or "ratelimit" in lowered.replace("-", ""):
            result.headers.append(pair)
        else:
            result.other_headers.append(pair)
    _body(result, body, hidden)
    return result


def _body(result: Result, body: dict[str, Any], hidden: list[str]) -> None:
    encoded = body.get("data_base64")
    if isinstance(encoded, str):
        result.content_type = str(body.get("content_type") or "application/octet-stream")
        result.size = len(encoded) * 3 // 4
        media = result.content_type.split(";")[0].strip().lower()
        if media.startswith("image/") and media != "image/svg+xml" and (
                result.size <= MAX_IMAGE_BYTES):
            result.kind = "image"
            result.image_src = f"data:{media};base64,{encoded}"
        else:
            result.kind = "binary"
        return
    data = redact(body.get("data"), hidden)
    if data is None:
        result.kind = "empty"
    elif isinstance(data, str):
        result.kind = "text"
        result.raw, result.raw_truncated = data[:MAX_RAW_CHARS], len(data) > MAX_RAW_CHARS
    else:
        result.kind = "json"
        result.tree = json_tree(data)
        raw = json.dumps(data, indent=2, ensure_ascii=False)
        result.raw, result.raw_truncated = raw[:MAX_RAW_CHARS], len(raw) > MAX_RAW_CHARS
