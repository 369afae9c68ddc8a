"""Control characters in URLs (security issue 12, item 6): every route, every path parameter.

PostgreSQL refuses NUL in text, so a `%00` in any id that reached a query was an unhandled 500,
even for anonymous callers. The sweep walks Django's resolver, substitutes each path parameter
in turn with a value holding a control character (the others get the personas' real ids, so
the request goes as deep as it can), and requests it as anonymous, as the workspace owner
(session), with the app's service token (SDK routes) and as a superuser (Django admin).
A path id answers 404, a query value 400: JSON {"detail", "code"} under /api/, the dashboard's
own pages elsewhere; never a 5xx.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.urls import get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern, URLResolver

BAD_VALUES = ["x%00", "%01y", "a%7Fb", "%00"]
PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")
GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?:[^()]|\([^()]*\))*\)")


def _regex_route(regex: str) -> str:
    """`^(?P<app_label>auth|axes)/$` -> `<app_label>/`; `^api(/.*)?$` -> `api/<rest>`."""
    route = regex.lstrip("^").rstrip("$").replace(r"\Z", "")
    route = GROUP.sub(lambda m: f"<{m['name']}>", route)
    route = route.replace("(/.*)?", "/<rest>").replace(".*", "<rest>")
    return route.replace("\\", "")


def _routes(resolver: URLResolver | None = None, prefix: str = "") -> Iterator[str]:
    for entry in (resolver or get_resolver()).url_patterns:
        pattern = entry.pattern
        if isinstance(pattern, RoutePattern):
            part = str(pattern)
        else:
            assert isinstance(pattern, RegexPattern)
            part = _regex_route(str(pattern))
        if isinstance(entry, URLResolver):
            yield from _routes(entry, prefix + part)
        else:
            yield prefix + part


ROUTES = sorted(set(_routes()))


def _params(route: str) -> list[str]:
    return [m["name"] for m in PARAM.finditer(route)]


def _fill(route: str, values: dict[str, str], bad: tuple[str, str] | None = None) -> str:
    def sub(m: re.Match) -> str:
        if bad and m["name"] == bad[0]:
            return bad[1]
        return values.get(m["name"], "zz9")

    return "/" + PARAM.sub(sub, route)


def test_the_sweep_covers_every_route():
    """A guard on the walker itself: it found the routes the issue names."""
    assert len(ROUTES) > 250
    plain = {PARAM.sub(lambda m: f"<{m['name']}>", route) for route in ROUTES}
    for route in ("api/apps/<app_id>/functions/env",
                  "api/apps/<app_id>/integrations/custom/<slug>/<operation>",
                  "api/v1/workspaces/<workspace_id>/apps/<app_id>/",
                  "w/<workspace_id>/secrets/<name>/", "admin/<url>",
                  "admin/workspaces/user/<object_id>/change/"):
        assert route in plain, route


@pytest.fixture
def callers(personas, sdk, client, django_user_model):  # type: ignore[no-untyped-def]
    from django.test import Client

    owner = Client()
    owner.force_login(personas.owner)
    superuser = django_user_model.objects.create_superuser(email="root@example.com",
                                                           password="x-long-root-pass-1")
    staff = Client()
    staff.force_login(superuser)
    ids = {"workspace_id": personas.workspace.public_id, "app_id": personas.app.public_id}
    return {"anonymous": client, "owner": owner, "service": sdk(personas.app),
            "superuser": staff}, ids


def _check_not_found(response, path: str, who: str) -> None:  # type: ignore[no-untyped-def]
    status = response.status_code
    assert status < 500, (who, path, status, response.content[:500])
    assert status == 404, (who, path, status, response.content[:300])
    if path.startswith("/api"):
        body = response.json()
        assert body["code"] == "not_found" and body["detail"], (who, path, body)
    else:
        assert b"Page not found" in response.content, (who, path, response.content[:300])


def _who_for(route: str) -> list[str]:
    if route.startswith("admin/"):
        return ["anonymous", "superuser"]
    if route.startswith("api/apps/"):
        return ["anonymous", "service"]
    return ["anonymous", "owner"]


@pytest.mark.parametrize("route", [r for r in ROUTES if _params(r)])
def test_a_control_character_in_any_path_parameter_is_a_404(route, callers):
    clients, ids = callers
    for name in _params(route):
        for bad in BAD_VALUES:
            path = _fill(route, ids, (name, bad))
            for who in _who_for(route):
                get = clients[who].get(path)
                _check_not_found(get, path, who)
                if bad == "x%00":
                    post = clients[who].post(path, data="{}", content_type="application/json")
                    _check_not_found(post, path, who)


@pytest.mark.parametrize("route", [r for r in ROUTES if not _params(r)])
def test_a_control_character_in_a_parameterless_path_is_a_404(route, callers):
    clients, _ = callers
    path = "/" + route + "x%00"
    for who in _who_for(route):
        _check_not_found(clients[who].get(path), path, who)


def _check_bad_query(response, path: str, who: str, param: str) -> None:  # type: ignore[no-untyped-def]
    status = response.status_code
    assert status < 500, (who, path, status, response.content[:500])
    assert status == 400, (who, path, status, response.content[:300])
    if path.startswith("/api"):
        body = response.json()
        assert body["code"] == "bad_request", body
        assert param in body["errors"] and "control characters" in body["detail"].lower(), body
    else:
        assert b"That request could not be read" in response.content, response.content[:300]


QUERY_PARAMS = ["q", "page", "search", "category", "tab", "source", "url", "state", "code",
                "error", "app", "example", "status", "slug", "next", "o", "p"]


@pytest.mark.parametrize("route", ROUTES)
def test_q_nul_is_a_400_on_every_route(route, callers):
    clients, ids = callers
    path = _fill(route, ids)
    for who in _who_for(route):
        response = clients[who].get(path + "?q=%00")
        _check_bad_query(response, path, who, "q")


LIST_PAGES = ["/w/{ws}/calls/", "/w/{ws}/catalog/", "/w/{ws}/catalog/mine/", "/catalog/review/",
              "/w/{ws}/integrations/new/", "/w/{ws}/credits/", "/catalog/check/",
              "/connectors/oauth/callback/", "/api/v1/catalog/integrations/",
              "/api/v1/workspaces/{ws}/integrations/", "/api/v1/workspaces/{ws}/apps/",
              "/api/v1/notifications/", "/login/", "/admin/workspaces/user/"]


@pytest.mark.parametrize("page", LIST_PAGES)
def test_control_characters_in_query_values_and_names_are_a_400(page, callers):
    clients, ids = callers
    path = page.format(ws=ids["workspace_id"])
    who = "superuser" if path.startswith("/admin/") else "owner"
    for param in QUERY_PARAMS:
        for bad in BAD_VALUES:
            _check_bad_query(clients[who].get(f"{path}?{param}={bad}"), path, who, param)
            _check_bad_query(clients["anonymous"].get(f"{path}?{param}={bad}"), path,
                             "anonymous", param)
    # A control character in a parameter's name, and a good value next to a bad one.
    _check_bad_query(clients[who].get(f"{path}?q%00=1"), path, who, "q\x00")
    _check_bad_query(clients[who].get(f"{path}?page=1&q=ok&q=b%00d"), path, who, "q")


def test_ordinary_queries_still_work(personas, client):
    client.force_login(personas.owner)
    ws = personas.workspace.public_id
    assert client.get(f"/w/{ws}/calls/?page=1").status_code == 200
    assert client.get(f"/w/{ws}/catalog/?q=caf%C3%A9+bar&tab=public").status_code == 200
    assert client.get("/api/v1/catalog/integrations/?q=pets%20store").status_code == 200


def test_the_refusal_pages_keep_the_signed_in_nav(personas, client):
    client.force_login(personas.owner)
    page = client.get(f"/w/{personas.workspace.public_id}%00/apps/")
    assert page.status_code == 404 and b"Page not found" in page.content
    assert personas.owner.email.encode() in page.content  # the top bar of a signed-in user
    bad = client.get(f"/w/{personas.workspace.public_id}/calls/?status=%00")
    assert bad.status_code == 400 and personas.owner.email.encode() in bad.content
