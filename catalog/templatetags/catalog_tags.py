from __future__ import annotations

from typing import Any

from django import template
from django.utils.safestring import SafeString

from ..rendering import render_markdown
from ..services import unread_count

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Render Markdown to sanitized HTML (no scripts, handlers or javascript: links)."""
    return render_markdown(text)


@register.simple_tag
def unread_notifications(user: Any) -> int:
    return unread_count(user)


@register.filter
def is_url(text: str) -> bool:
    return str(text).startswith(("https://", "http://"))


@register.filter
def action_label(action: str) -> str:
    """A history entry's action in words: ``request_changes`` -> "Request changes"."""
    return str(action or "").replace("_", " ").capitalize()
