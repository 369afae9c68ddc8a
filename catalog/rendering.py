"""Markdown to safe HTML for integration prompts: render, then sanitize with an allow-list."""

from __future__ import annotations

import difflib
import json
from typing import Any

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1",
    "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s",
    "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},
    "th": {"align"},
    "td": {"align"},
}


def render_markdown(text: str) -> SafeString:
    """Markdown (fenced code, tables) rendered and then sanitized: no scripts, no event
    handlers, no javascript: URLs, links get rel="noopener noreferrer nofollow"."""
    html = markdown.markdown(text or "", extensions=["fenced_code", "tables", "sane_lists"],
                             output_format="html")
    clean = nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                      url_schemes={"http", "https", "mailto"},
                      link_rel="noopener noreferrer nofollow")
    return mark_safe(clean)  # noqa: S308 - sanitized by nh3 just above


FIELD_LABELS = {
    "name": "Name", "slug": "Slug", "short_description": "Short description",
    "category": "Category", "doc_links": "Documentation links",
    "backend_function": "Backend function", "required_secrets": "Required secrets",
    "prompt": "Prompt",
}


def _as_lines(field: str, value: Any) -> list[str]:
    if field == "doc_links":
        return [str(v) for v in value or []]
    if field == "required_secrets":
        return json.dumps(value or [], indent=2, ensure_ascii=False).splitlines()
    if field == "backend_function":
        return ["on" if value else "off"]
    return str(value or "").splitlines()


def content_diff(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """Per changed field, unified-diff lines tagged add / del / ctx / hunk."""
    out: list[dict[str, Any]] = []
    for field, label in FIELD_LABELS.items():
        a, b = _as_lines(field, old.get(field)), _as_lines(field, new.get(field))
        if a == b:
            continue
        lines = []
        for line in list(difflib.unified_diff(a, b, lineterm="", n=3))[2:]:
            kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "ctx")
            lines.append({"kind": kind, "text": line})
        out.append({"field": field, "label": label, "lines": lines})
    return out
