"""The SDK routes (/api/apps/...) skip the dashboard's middleware (sessions, CSRF,
authentication, messages; the CSP header built once), and keep what they need: CORS, the
security headers and the same Content-Security-Policy. Dashboard pages keep all of it."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client

from config import middleware
from tests.integrations import proxy_support
from tests.integrations.proxy_support import call_url, make_integration

_fresh_proxy_state = proxy_support._fresh_proxy_state
egress_open = proxy_support.egress_open
upstream = proxy_support.upstream

pytestmark = pytest.mark.django_db

ORIGIN = "https://shop.example.com"


def sdk_me(client, personas, **extra):  # type: ignore[no-untyped-def]
    return client.get(f"/api/apps/{personas.app.public_id}/app-users/me", **extra)


def test_dashboard_pages_keep_sessions_csrf_auth_messages_and_csp(personas):
    client = Client(enforce_csrf_checks=True)
    # CSRF: a form post without the token is refused
    assert client.post("/login/", {"username": "x", "password": "y"}).status_code == 403
    # sessions + authentication: a signed-in user is recognised
    client.force_login(personas.owner)
    page = client.get("/workspaces/")
    assert page.status_code == 200 and page.wsgi_request.user == personas.owner
    assert "Content-Security-Policy" in page and page["X-Frame-Options"] == "DENY"
    # messages: a flash message set on a POST shows on the next page
    token = page.cookies[settings.CSRF_COOKIE_NAME].value
    done = client.post("/workspaces/", {"name": "Flash", "csrfmiddlewaretoken": token},
                       follow=True)
    assert "Workspace “Flash” created." in done.content.decode()


def test_sdk_routes_keep_cors_security_headers_and_the_same_csp(personas, sdk, client):
    dashboard_policy = client.get("/login/")["Content-Security-Policy"]
    r = sdk_me(sdk(personas.app, "user-1"), personas, HTTP_ORIGIN=ORIGIN)
    assert r.status_code == 200
    assert r["Access-Control-Allow-Origin"] == "*"
    assert "x-request-id" in r["Access-Control-Expose-Headers"].lower()
    assert r["X-Content-Type-Options"] == "nosniff"
    assert r["Referrer-Policy"] == "same-origin"
    assert r["X-Frame-Options"] == "DENY"
    assert r["Content-Security-Policy"] == dashboard_policy
    # the browser's preflight
    pre = Client().options(f"/api/apps/{personas.app.public_id}/app-users/me",
                           HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                           HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type")
    assert pre.status_code == 200 and pre["Access-Control-Allow-Origin"] == "*"
    assert "authorization" in pre["Access-Control-Allow-Headers"].lower()


def test_a_session_cookie_means_nothing_on_sdk_routes(personas, sdk):
    """A browser app on the portal's own origin sends the portal's session cookie with its SDK
    calls: it neither authenticates the call nor touches the session."""
    client = sdk(personas.app, "user-1")
    client.force_login(personas.owner)
    before = Session.objects.get().expire_date
    r = sdk_me(client, personas)
    assert r.status_code == 200 and r.wsgi_request.user.is_anonymous
    assert "Set-Cookie" not in r and not r.cookies
    assert Session.objects.get().expire_date == before
    # the cookie alone is no credential
    only_cookie = Client()
    only_cookie.force_login(personas.owner)
    assert sdk_me(only_cookie, personas).status_code == 401


def test_csrf_is_not_asked_of_sdk_posts(personas, sdk, upstream, egress_open):
    make_integration(personas.workspace, upstream.url("/v1"))
    upstream.routes["/v1/pets"] = lambda h: h.reply(200, b"[]", [("Content-Type",
                                                                   "application/json")])
    client = sdk(personas.app)
    client.enforce_csrf_checks = True
    client.handler.enforce_csrf_checks = True
    r = client.post(call_url(personas.app.public_id, "pets", "get:/pets"), {}, format="json")
    assert r.status_code == 200 and r.json()["success"] is True


def test_route_aware_middleware_are_the_originals_elsewhere():
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.messages.middleware import MessageMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.middleware.csrf import CsrfViewMiddleware

    assert issubclass(middleware.SessionMiddleware, SessionMiddleware)
    assert issubclass(middleware.CsrfViewMiddleware, CsrfViewMiddleware)
    assert issubclass(middleware.AuthenticationMiddleware, AuthenticationMiddleware)
    assert issubclass(middleware.MessageMiddleware, MessageMiddleware)
    assert hasattr(middleware.CsrfViewMiddleware, "process_view")
    call_command("check")  # the admin's and axes' checks find what they look for
