"""The dependency rule, checked on the code: workspaces <- secrets_vault <- integrations <-
catalog/connectors (config wires everything). A floor names no floor above it: no import, no
dotted path (``"connectors.models..."``), no template of a higher app (``{% include %}``,
``{% extends %}``, a template name in Python), no ``{% load %}`` of a higher app's tag library
and no URL name a higher app defines (``{% url %}``, ``reverse(...)`` or any string equal to
one). Floors above fill the ground floor's pages through ``workspaces.panels``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

ROOT = Path(__file__).resolve().parents[1]
FLOORS = {"workspaces": 0, "secrets_vault": 1, "integrations": 2, "catalog": 3, "connectors": 3}

LOAD_RE = re.compile(r"{%\s*load\s+([^%]+?)\s*%}")
URL_RE = re.compile(r"""{%\s*url\s+["']([^"']+)["']""")
TEMPLATE_REF_RE = re.compile(r"""{%\s*(?:include|extends)\s+["']([^"']+)["']""")


def _higher(app: str) -> set[str]:
    return {other for other, floor in FLOORS.items() if floor > FLOORS[app]}


def _url_names() -> dict[str, str]:
    """URL name -> the app whose view serves it."""
    names: dict[str, str] = {}

    def walk(patterns: list) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns)
            elif isinstance(p, URLPattern) and p.name:
                module = getattr(p.callback, "__module__", "") or ""
                view_class = getattr(p.callback, "view_class", None) or getattr(
                    p.callback, "cls", None)
                if view_class is not None:
                    module = view_class.__module__
                app = module.split(".")[0]
                if app in FLOORS:
                    names.setdefault(p.name, app)

    walk(get_resolver().url_patterns)
    return names


def _tag_libraries() -> dict[str, str]:
    return {lib.stem: app for app in FLOORS for lib in (ROOT / app / "templatetags").glob("*.py")
            if lib.stem != "__init__"}


def _python_files(app: str) -> list[Path]:
    # Generated migrations only name their own app and Django's (checked by makemigrations).
    return sorted(p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def _python_violations(path: Path, higher: set[str], url_names: dict[str, str]) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            modules = [node.module or ""] if node.level == 0 else []
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            first = re.split(r"[./]", text, maxsplit=1)[0]
            if first in higher and re.match(r"^\w+[./]\w", text):
                found.append(f"{_rel(path)}:{node.lineno}: names {text!r}")
            elif url_names.get(text) in higher:
                found.append(f"{_rel(path)}:{node.lineno}: URL name {text!r} "
                             f"({url_names[text]})")
            continue
        else:
            continue
        for module in modules:
            if module.split(".")[0] in higher:
                found.append(f"{_rel(path)}:{node.lineno}: imports {module}")
    return found


def _template_violations(path: Path, higher: set[str], url_names: dict[str, str],
                         libraries: dict[str, str]) -> list[str]:
    text = path.read_text()
    where = _rel(path)
    found = []
    for match in LOAD_RE.finditer(text):
        for lib in match.group(1).split():
            if libraries.get(lib) in higher:
                found.append(f"{where}: loads {lib} ({libraries[lib]})")
    for match in URL_RE.finditer(text):
        if url_names.get(match.group(1)) in higher:
            found.append(f"{where}: URL name {match.group(1)} ({url_names[match.group(1)]})")
    for match in TEMPLATE_REF_RE.finditer(text):
        if match.group(1).split("/")[0] in higher:
            found.append(f"{where}: uses template {match.group(1)}")
    return found


@pytest.fixture(scope="module")
def names() -> tuple[dict[str, str], dict[str, str]]:
    return _url_names(), _tag_libraries()


def test_the_checks_know_the_higher_floors_names(names, tmp_path: Path) -> None:
    """The scan can fail: it knows the URL names and tag libraries of the floors above."""
    url_names, libraries = names
    assert url_names["app-connectors"] == "connectors"
    assert url_names["app-catalog-integrations"] == "catalog"
    assert url_names["app-detail"] == "workspaces"
    assert libraries["connectors_tags"] == "connectors"
    sample = ('{% load connectors_tags %}{% url "app-catalog-integrations" a b %}'
              '{% include "catalog/_app_link.html" %}')
    probe = tmp_path / "probe.html"
    probe.write_text(sample)
    assert len(_template_violations(probe, _higher("workspaces"), *names)) == 3
    assert _template_violations(probe, _higher("catalog"), *names) == []
    code = tmp_path / "probe.py"
    code.write_text('from connectors import models\nX = "catalog.services"\nY = "app-connectors"\n')
    assert len(_python_violations(code, _higher("workspaces"), url_names)) == 3


@pytest.mark.parametrize("app", [a for a in FLOORS if _higher(a)])
def test_a_floor_names_no_floor_above_it(app: str, names) -> None:
    url_names, libraries = names
    higher = _higher(app)
    found = [v for path in _python_files(app)
             for v in _python_violations(path, higher, url_names)]
    found += [v for path in sorted((ROOT / "templates" / app).rglob("*.html"))
              for v in _template_violations(path, higher, url_names, libraries)]
    assert found == [], f"{app} names a floor above it:\n" + "\n".join(found)


@pytest.mark.django_db
def test_the_app_page_is_filled_by_registered_panels(client, personas) -> None:
    """What the app page shows of the floors above comes from their panels."""
    from workspaces import panels

    assert [p.name for p in panels.panels_for("app", "links")] == [
        "connectors.link", "catalog.link"]
    assert [p.name for p in panels.panels_for("app", "notices")] == ["connectors.notices"]
    assert [p.name for p in panels.panels_for("app", "cards")] == [
        "secrets_vault.app_secret_access"]
    client.force_login(personas.member)
    ws, app = personas.workspace.public_id, personas.app.public_id
    page = client.get(f"/w/{ws}/apps/{app}/").content.decode()
    assert (f'<p><a href="/w/{ws}/apps/{app}/connectors/" data-testid="app-connectors-link">'
            f'Connectors</a>\n  · <a href="/w/{ws}/apps/{app}/integrations/" '
            'data-testid="app-catalog-integrations-link">Catalog integrations</a></p>') in page
    assert 'data-testid="app-secret-access"' in page


def test_the_workspace_navigation_is_registered_by_each_floor() -> None:
    from workspaces import panels

    assert panels.nav_sections() == [
        ("Apps", "apps"), ("Integrations", "integrations"), ("Calls", "calls"),
        ("Custom APIs", "custom-apis"), ("Secrets", "secrets"), ("Catalog", "catalog"),
        ("Connectors", "connectors"), ("Credits", "workspace-credits"), ("Members", "members"),
        ("Settings", "workspace-settings"),
    ]


def _services_modules(app: str) -> list[Path]:
    """``<app>/services.py``, or every module of the ``<app>/services/`` package."""
    package = ROOT / app / "services"
    return sorted(package.glob("*.py")) if package.is_dir() else [ROOT / app / "services.py"]


@pytest.mark.parametrize("app", ["workspaces", "catalog", "integrations"])
def test_services_queue_tasks_by_name_and_never_import_them(app: str) -> None:
    """Tasks call services; services queue tasks through workspaces.enqueue (by name)."""
    modules = _services_modules(app)
    assert modules and all(m.exists() for m in modules), modules
    imported = set()
    for node in (n for m in modules for n in ast.walk(ast.parse(m.read_text()))):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            imported |= ({f"{module}.{a.name}" if module else a.name for a in node.names}
                         if node.level else {module})
        elif isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
    assert not {m for m in imported if m == "tasks" or m.endswith(".tasks")
                or m.startswith("tasks.") or ".tasks." in m}, imported


@pytest.mark.django_db
def test_a_queued_task_is_the_registered_one(monkeypatch) -> None:
    from workspaces import enqueue, tasks

    sent = []
    monkeypatch.setattr(tasks.send_email, "delay", lambda *args: sent.append(args))
    enqueue.delay("workspaces.tasks.send_email", 7)
    assert sent == [(7,)]
    with pytest.raises(KeyError):
        enqueue.delay("workspaces.tasks.no_such_task", 7)


def test_the_import_task_integrations_queue_by_name_is_registered(monkeypatch) -> None:
    from integrations import services, tasks
    from workspaces import enqueue

    sent = []
    monkeypatch.setattr(tasks.run_spec_import, "delay", lambda *args: sent.append(args))
    enqueue.delay(services.RUN_SPEC_IMPORT, 7)
    assert sent == [(7,)]


def test_no_application_module_is_over_700_lines() -> None:
    """Issue 15's rule for the house: a module one person can hold in their head."""
    too_long = {}
    for top in (*FLOORS, "config"):
        for path in (ROOT / top).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            lines = len(path.read_text(encoding="utf-8").splitlines())
            if lines > 700:
                too_long[str(path.relative_to(ROOT))] = lines
    assert too_long == {}
