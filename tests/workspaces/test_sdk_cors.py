"""CORS on the SDK routes: a browser app on its own origin can call /api/apps/... with the
headers @base44/sdk sends and read the headers it needs (sdk-protocol §2.1); the admin API and
the dashboard stay same-origin."""

from __future__ import annotations

import pytest

from workspaces import services

pytestmark = pytest.mark.django_db

ORIGIN = "https://shop.example.com"
SDK_HEADERS = "authorization,content-type,x-app-id,x-origin-url,x-base44-anonymous-id"


def preflight(client, path: str, headers: str = SDK_HEADERS, method: str = "POST", **extra):
    return client.options(path, HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD=method,
                          HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers, **extra)


def test_preflight_for_an_sdk_call_allows_the_sdk_headers(client, personas):
    path = f"/api/apps/{personas.app.public_id}/integrations/custom/pets/get:/pets"
    response = preflight(client, path)
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    allowed = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert set(SDK_HEADERS.split(",")) <= allowed
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "Access-Control-Allow-Credentials" not in response  # bearer tokens only, no cookies


def test_preflight_with_a_trailing_slash_server_url(client, personas):
    # The test client would parse "//api" as a host name, so set the raw WSGI path directly.
    path = f"/api/apps/{personas.app.public_id}/app-users/me"
    response = preflight(client, path, method="GET", PATH_INFO="/" + path)
    assert response.status_code == 200 and response["Access-Control-Allow-Origin"] == "*"


def test_an_sdk_answer_exposes_the_headers_apps_read(client, personas):
    token = services.mint_app_user_token(personas.app, "user-1").token
    response = client.get(f"/api/apps/{personas.app.public_id}/app-users/me", HTTP_ORIGIN=ORIGIN,
                          HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    exposed = {h.strip().lower() for h in response["Access-Control-Expose-Headers"].split(",")}
    assert {"x-base44-connector-error", "x-request-id", "retry-after"} <= exposed
    # errors too: the app must be able to read a 401 from another origin
    refused = client.get(f"/api/apps/{personas.app.public_id}/app-users/me", HTTP_ORIGIN=ORIGIN)
    assert refused.status_code == 401 and refused["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("path", ["/api/v1/workspaces/", "/login/", "/api/schema/"])
def test_admin_api_and_dashboard_are_not_cross_origin(client, path):
    assert "Access-Control-Allow-Origin" not in preflight(client, path, method="GET")
    assert "Access-Control-Allow-Origin" not in client.get(path, HTTP_ORIGIN=ORIGIN)


def test_allowed_origins_can_be_narrowed(client, personas, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.org"]
    settings.CORS_ALLOW_ALL_ORIGINS = False
    path = f"/api/apps/{personas.app.public_id}/app-users/me"
    assert "Access-Control-Allow-Origin" not in preflight(client, path, method="GET")
    ok = client.options(path, HTTP_ORIGIN="https://app.example.org",
                        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET")
    assert ok["Access-Control-Allow-Origin"] == "https://app.example.org"
