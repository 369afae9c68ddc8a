from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_unknown_api_route_is_json_404(client):
    response = client.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_double_slash_api_is_served_like_api(sdk, personas):
    """SDK serverUrl with a trailing slash requests //api/...; no redirect, same answer."""
    client = sdk(personas.app)
    path = f"/api/apps/{personas.app.public_id}/app-users/tokens"
    # The test client would parse "//api" as a host name, so set the raw WSGI path directly.
    response = client.post(path, {"app_user_id": "u1"}, format="json", PATH_INFO="/" + path)
    assert response.status_code == 201
    missing = client.get("/api/v1/nope", PATH_INFO="//api/v1/nope")
    assert missing.json()["code"] == "not_found"


def test_validation_errors_are_flattened(sdk, personas):
    response = sdk(personas.app).post(f"/api/apps/{personas.app.public_id}/app-users/tokens",
                                      {}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"] == "app_user_id: This field is required."
    assert "app_user_id" in body["errors"]


def test_server_error_is_json(client, personas, settings):
    from unittest import mock

    client.raise_request_exception = False
    with mock.patch("workspaces.api.views.Membership.objects.filter", side_effect=RuntimeError):
        client.force_login(personas.owner)
        response = client.get("/api/v1/workspaces/")
    assert response.status_code == 500
    assert response.json()["code"] == "server_error"


def test_api_method_not_allowed_is_json(api, personas):
    response = api(personas.owner).put("/api/v1/workspaces/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"


def test_openapi_schema_builds(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    assert "/api/v1/workspaces/" in schema["paths"]
    assert "/api/apps/{app_id}/app-users/tokens" in schema["paths"]


def test_schema_command_has_no_warnings():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_docs_page_serves_swagger_ui_locally(client):
    """Every script, stylesheet and icon of the Swagger UI page comes from this server (no CDN):
    parsed from the tags, since a random token in the page may spell anything."""
    from html.parser import HTMLParser
    from urllib.parse import urlsplit

    class Assets(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.urls: list[str] = []
            self.inline_scripts = 0

        def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
            attrs = dict(attrs)
            if tag == "script":
                if attrs.get("src"):
                    self.urls.append(attrs["src"])
                else:
                    self.inline_scripts += 1
            elif tag == "link" and attrs.get("href"):
                self.urls.append(attrs["href"])
            elif tag in ("img", "iframe", "source") and attrs.get("src"):
                self.urls.append(attrs["src"])

    response = client.get("/api/docs/")
    assert response.status_code == 200
    assets = Assets()
    assets.feed(response.content.decode())
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/" in u for u in assets.urls)
    assert len([u for u in assets.urls if u.endswith(".js") or "script" in u]) >= 3
    for url in assets.urls:
        parts = urlsplit(url)
        assert parts.scheme in ("", "data") and not parts.netloc, url  # same origin only
    assert assets.inline_scripts == 0  # the setup script is a file too (CSP: no inline)
    setup = next(u for u in assets.urls if "script" in urlsplit(u).query)
    script = client.get(setup)
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
    assert 'url: "/api/schema/"' in script.content.decode()


def test_error_reports_hide_the_sdk_credentials(rf):
    """A 500 report of a service-role call must not carry the service token or the end
    user's token from `on-behalf-of`."""
    from django.views.debug import ExceptionReporter

    request = rf.post("/api/apps/x/integrations/custom/s/get:/a",
                      HTTP_AUTHORIZATION="Bearer sbs_canary_service",
                      HTTP_ON_BEHALF_OF="Bearer canary.enduser.jwt")
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        report = ExceptionReporter(request, type(exc), exc, exc.__traceback__).get_traceback_text()
    assert "boom" in report and "HTTP_ON_BEHALF_OF" in report
    assert "canary.enduser.jwt" not in report and "sbs_canary_service" not in report
