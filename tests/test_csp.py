"""Content-Security-Policy (security issue 12, LOW): no inline script anywhere, and the
dashboard, the Django admin and the Swagger UI still work under it in real Chromium."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((ROOT / "templates").rglob("*.html")) + sorted(
    p for app in ("workspaces", "secrets_vault", "integrations", "catalog", "connectors")
    for p in (ROOT / app).rglob("templates/**/*.html"))


def _directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


@pytest.mark.parametrize("path", ["/login/", "/api/docs/", "/api/v1/catalog/integrations/",
                                  "/healthz"])
def test_every_response_carries_the_policy(client, db, path):
    policy = _directives(client.get(path)["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I)
HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I | re.S)
STYLE_ATTR = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I | re.S)


def test_templates_have_no_inline_script_handler_or_style():
    """What the policy would block: inline <script>, on* handler attributes, <style> blocks and
    style attributes (move them to static/js, static/css)."""
    assert len(TEMPLATES) > 40
    problems = []
    for path in TEMPLATES:
        text = path.read_text()
        text = re.sub(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", "", text, flags=re.S)
        for name, pattern in (("inline <script>", INLINE_SCRIPT), ("on* handler", HANDLER),
                              ("style attribute", STYLE_ATTR), ("<style>", re.compile("<style"))):
            for m in pattern.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                problems.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not problems, "\n".join(problems)

# The pages in real Chromium under this policy: tests/browser/test_csp_browser.py
