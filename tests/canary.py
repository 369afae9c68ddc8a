"""Reusable canary walker: GET every route of the URL conf as every kind of caller and look for
unique canary strings in the responses, the logs, the SQL and the database.

Later issues get coverage for free: every new route is visited. Give it real object ids through
`values` (kwarg name -> value); a kwarg without a value is filled with a placeholder of its
converter's type (the route is still visited; it will usually answer 404) and listed in
`WalkReport.guessed`, so you can see which routes ran on placeholders.

    report = walk(values, page_clients={...}, api_clients={...})
    report.assert_clean(canaries, allowed=lambda visit: ...)

Writes too: `write_walk(values, bodies, ...)` sends each body (carrying canaries in its secret
fields) to every route with POST (pages, as a form; redirects followed) and POST/PUT/PATCH
(/api/..., as JSON) as every caller, so error answers, re-rendered forms and success pages are
checked for echoes. Pick the routes (`routes_of("myapp")`), since writes change state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

_PLACEHOLDER = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")
_GUESS = {"int": "999999", "str": "unknown", "slug": "unknown", "path": "unknown",
          "uuid": "00000000-0000-0000-0000-000000000000"}
# Namespaces visited by their own walkers (the admin needs a superuser: see walk_admin).
SKIP_NAMESPACES = {"admin"}


@dataclass
class Route:
    template: str  # "/w/<str:workspace_id>/secrets/"
    name: str | None
    skip_reason: str = ""
    view: str = ""  # dotted path of the view ("secrets_vault.views.secrets_page")


@dataclass
class Visit:
    url: str
    caller: str
    status: int
    body: str


@dataclass
class WalkReport:
    visits: list[Visit] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    guessed: list[tuple[str, list[str]]] = field(default_factory=list)

    def urls(self) -> set[str]:
        return {v.url for v in self.visits}

    def find(self, canaries: Iterable[str],
             allowed: Callable[[Visit], bool] = lambda v: False) -> list[tuple[str, str, str]]:
        hits = []
        for visit in self.visits:
            if allowed(visit):
                continue
            for canary in canaries:
                if canary in visit.body:
                    hits.append((visit.caller, visit.url, canary))
        return hits

    def assert_clean(self, canaries: Iterable[str],
                     allowed: Callable[[Visit], bool] = lambda v: False) -> None:
        hits = self.find(list(canaries), allowed)
        assert not hits, "canary leaked:\n" + "\n".join(
            f"  {c if ' ' in c else c + ' GET'} {u} -> {k}" for c, u, k in hits)


def _pattern_text(pattern: Any) -> str | None:
    """The route text of one pattern piece, or None for a regex we can't fill."""
    route = getattr(pattern, "_route", None)
    if route is not None:
        return str(route)
    regex = pattern.regex.pattern
    text = regex.removeprefix("^").removesuffix("$").removesuffix(r"\Z")
    if re.search(r"[()\[\]?*+\\{}|.]", text):
        return None
    return text


def iter_routes(patterns: Iterable[Any] | None = None, prefix: str = "/",
                namespace: str = "") -> Iterator[Route]:
    """Every leaf route of the URL conf, nested includes flattened."""
    if patterns is None:
        patterns = get_resolver().url_patterns
    for p in patterns:
        text = _pattern_text(p.pattern)
        ns = namespace
        if isinstance(p, URLResolver) and p.namespace:
            ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
        if text is None:
            yield Route(prefix + str(p.pattern), getattr(p, "name", None),
                        "regex route (catch-all or admin)")
            continue
        if ns.split(":")[0] in SKIP_NAMESPACES:
            yield Route(prefix + text, getattr(p, "name", None),
                        f"namespace {ns!r}: see walk_admin")
            continue
        if isinstance(p, URLResolver):
            yield from iter_routes(p.url_patterns, prefix + text, ns)
        elif isinstance(p, URLPattern):
            yield Route(prefix + text, p.name, view=_view_path(p.callback))


def _view_path(callback: Any) -> str:
    view = getattr(callback, "view_class", None) or getattr(callback, "cls", None) or callback
    return f"{getattr(view, '__module__', '')}.{getattr(view, '__qualname__', '')}"


def routes_of(*module_prefixes: str) -> list[Route]:
    """The routes whose view lives in one of these modules/packages (e.g. "secrets_vault")."""
    return [r for r in iter_routes()
            if not r.skip_reason and any(r.view == m or r.view.startswith(m + ".")
                                         for m in module_prefixes)]


def fill(template: str, values: dict[str, str]) -> tuple[str, list[str]]:
    """The URL with real values where known; placeholders (listed) for the rest."""
    guessed: list[str] = []

    def sub(m: re.Match[str]) -> str:
        name, conv = m.group("name"), m.group("conv") or "str"
        if name in values:
            return str(values[name])
        guessed.append(name)
        return _GUESS.get(conv, "unknown")

    return _PLACEHOLDER.sub(sub, template), guessed


def _urls(routes: Iterable[Route], values: dict[str, str], report: WalkReport) -> Iterator[str]:
    """The URL of each route to visit; skipped routes and guessed kwargs go in the report."""
    for route in routes:
        if route.skip_reason:
            report.skipped.append((route.template, route.skip_reason))
            continue
        url, guessed = fill(route.template, values)
        if guessed:
            report.guessed.append((route.template, guessed))
        yield url


def _answer(response: Any) -> tuple[int, str]:
    """Status and everything a caller could read: the body (streamed or not) and the headers."""
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response.status_code, body.decode("utf-8", "replace") + "\n" + str(response.headers)


def _get(client: Client, url: str) -> tuple[int, str]:
    client.raise_request_exception = False
    return _answer(client.get(url))


def walk(values: dict[str, str], *, page_clients: dict[str, Client],
         api_clients: dict[str, Client],
         routes: Iterable[Route] | None = None) -> WalkReport:
    """GET every route: /api/... with `api_clients`, everything else with `page_clients`."""
    report = WalkReport()
    for url in _urls(routes if routes is not None else iter_routes(), values, report):
        clients = api_clients if url.startswith("/api/") else page_clients
        for caller, client in clients.items():
            status, body = _get(client, url)
            report.visits.append(Visit(url, caller, status, body))
    return report


def _send(client: Client, method: str, url: str, data: dict[str, Any], *,
          as_json: bool) -> tuple[int, str]:
    client.raise_request_exception = False
    if as_json:
        response = getattr(client, method)(url, json.dumps(data),
                                           content_type="application/json")
    else:
        response = getattr(client, method)(url, data, follow=True)
    return _answer(response)


def write_walk(values: dict[str, str], bodies: Iterable[dict[str, Any]], *,
               page_clients: dict[str, Client], api_clients: dict[str, Client],
               routes: Iterable[Route],
               api_methods: Iterable[str] = ("post", "put", "patch")) -> WalkReport:
    """Send every body to every route as every caller: pages get a form POST (redirects
    followed, so the page shown after a save is checked too), /api/... routes get each of
    `api_methods` with a JSON body. Visits are named "<caller> <METHOD>"."""
    report = WalkReport()
    bodies = list(bodies)
    for url in _urls(routes, values, report):
        is_api = url.startswith("/api/")
        clients = api_clients if is_api else page_clients
        methods = list(api_methods) if is_api else ["post"]
        for body in bodies:
            for method in methods:
                for caller, client in clients.items():
                    status, text = _send(client, method, url, body, as_json=is_api)
                    report.visits.append(Visit(url, f"{caller} {method.upper()}", status, text))
    return report


def walk_admin(client: Client) -> WalkReport:
    """As a superuser: the changelist and the change page of the first object, for every model
    registered in the admin (so later apps' models are covered too)."""
    report = WalkReport()
    for model in admin.site._registry:
        opts = model._meta
        urls = [reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")]
        obj = model._default_manager.order_by("pk").first()
        if obj is not None:
            urls.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_change",
                                args=[obj.pk]))
        for url in urls:
            status, body = _get(client, url)
            report.visits.append(Visit(url, "superuser", status, body))
    return report


def error_report(request: Any, call: Callable[[], Any]) -> str:
    """Run `call`, which must raise: the text and HTML of Django's error report for it (what a
    DEBUG page or a mail to the admins shows: frame locals, POST data, request headers)."""
    import sys

    from django.views.debug import ExceptionReporter

    try:
        call()
    except Exception:  # noqa: BLE001  (whatever it raised is what gets reported)
        exc_type, exc, tb = sys.exc_info()
        report = ExceptionReporter(request, exc_type, exc, tb.tb_next if tb else None)
        return report.get_traceback_text() + "\n" + report.get_traceback_html()
    raise AssertionError("expected the call to fail")


def scan_database(canaries: Iterable[str]) -> list[str]:
    """Every row of every model, every concrete column as stored (raw SQL): where a canary
    appears in plain text. Encrypted columns are included: they must hold only ciphertext."""
    canaries = list(canaries)
    found = []
    qn = connection.ops.quote_name
    for model in apps.get_models():
        opts = model._meta
        if opts.proxy or not opts.managed:
            continue
        cols = [f.column for f in opts.local_concrete_fields]
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(qn(c) for c in cols)} FROM {qn(opts.db_table)}")
            for row in cursor.fetchall():
                for col, value in zip(cols, row, strict=True):
                    text = value if isinstance(value, str) else str(value)
                    for canary in canaries:
                        if canary in text:
                            found.append(f"{opts.label}.{col}: {canary}")
    return found
