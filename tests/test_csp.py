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


def test_rendered_pages_have_no_inline_script_handler_or_style(personas, client):
    """Form widgets and template tags render markup too (a Select with an onchange attribute
    once hid in a form class): scan every page the owner can GET with the personas' ids."""
    from tests.catalog.conftest import make_integration
    from tests.test_url_sweep import ROUTES, _fill

    client.force_login(personas.owner)
    integration = make_integration(personas.workspace, personas.owner, visibility="private",
                                   name="Pixel Painter", slug="pixel-painter")
    ids = {"workspace_id": personas.workspace.public_id, "app_id": personas.app.public_id,
           "integration_id": integration.public_id}
    pages = [_fill(r, ids) for r in ROUTES if not r.startswith(("api/", "admin/"))
             and set(re.findall(r"<(?:\w+:)?(\w+)>", r)) <= set(ids)]
    pages += [f"/w/{ids['workspace_id']}/catalog/?tab=private",
              f"/w/{ids['workspace_id']}/catalog/{ids['integration_id']}/use/"
              f"?app={ids['app_id']}"]
    checked, problems = 0, []
    for path in pages:
        response = client.get(path)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        checked += 1
        html = response.content.decode()
        for name, pattern in (("inline <script>", INLINE_SCRIPT), ("on* handler", HANDLER),
                              ("style attribute", STYLE_ATTR)):
            if pattern.search(html):
                problems.append(f"{path}: {name}: {pattern.search(html).group(0)[:120]}")
    assert checked > 20
    assert not problems, "\n".join(problems)
