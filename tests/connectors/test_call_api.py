"""callApi: the metered proxy envelope, phases, headers, credits and the call log."""

from __future__ import annotations

import base64
import json

import pytest

from integrations.models import CallLog
from tests.factories import make_app
from tests.integrations.egress_support import Upstream, body, raw, slow
from workspaces import credits

from .conftest import free_port
from .support import make_connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def upstream():  # type: ignore[no-untyped-def]
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def metered(settings, personas, upstream):  # type: ignore[no-untyped-def]
    settings.EGRESS_ALLOW_CIDRS = ["127.0.0.0/8"]
    settings.EGRESS_ALLOWED_PORTS = [80, 443, upstream.port]
    settings.CONNECTOR_CALL_TIMEOUT_SECONDS = 1.0
    settings.CONNECTOR_PROVIDER_OVERRIDES = {"twitter": {
        "hosts": {"api": upstream.url("").rstrip("/"), "upload": upstream.url("/up")}}}
    settings.CONNECTOR_CLIENTS = {"twitter": {"client_id": "x", "client_secret": "y"}}
    make_connection(personas.app, integration_type="twitter", access="AT-metered")
    return personas.app


def _call(sdk, app, type_: str = "twitter", **payload):  # type: ignore[no-untyped-def]
    request = {"method": "GET", "path": "/2/users/me", "query": {}, "headers": {},
               "body": None, **payload}
    return sdk(app).post(f"/api/apps/{app.public_id}/connectors/{type_}/call", request,
                         format="json")


def test_responded_envelope_headers_and_credits(sdk, metered, upstream):
    def answer(h):  # type: ignore[no-untyped-def]
        h.reply(201, b'{"id": "1"}', [("Content-Type", "application/json"),
                                      ("X-Rate-Limit-Remaining", "42"), ("X-Internal", "no")])

    upstream.routes["/2/tweets"] = answer
    start = credits.balance(metered.workspace)
    resp = _call(sdk, metered, method="POST", path="/2/tweets?dry=1",
                 query={"b": [1, 2], "c": True}, body={"text": "hi"},
                 headers={"Content-Type": "application/json", "X-Evil": "1",
                          "Authorization": "Bearer mine"})
    assert resp.status_code == 200
    assert resp.json() == {"success": True, "phase": "responded", "status_code": 201,
                           "data": {"id": "1"}, "data_base64": None, "content_type": None,
                           "headers": {"x-rate-limit-remaining": "42"}, "credits_charged": 3}
    assert credits.balance(metered.workspace) == start - 3
    seen = upstream.seen[-1]
    assert seen.method == "POST" and seen.path == "/2/tweets?dry=1&b=1&b=2&c=true"
    assert seen.headers["authorization"] == "Bearer AT-metered"
    assert "x-evil" not in seen.headers
    assert json.loads(seen.body) == {"text": "hi"}
    log = CallLog.objects.get()
    assert (log.integration_id, log.integration_slug, log.phase, log.status_code,
            log.credits, log.response_status) == (None, "connector:twitter", "responded", 201,
                                                  3, 200)
    assert resp["X-Request-Id"] == log.request_id


def test_provider_error_is_returned_and_billed(sdk, metered, upstream):
    upstream.routes["/2/users/me"] = lambda h: h.reply(
        400, b'{"title": "Invalid Request"}', [("Content-Type", "application/json")])
    body_ = _call(sdk, metered).json()
    assert (body_["success"], body_["phase"], body_["status_code"], body_["data"],
            body_["credits_charged"]) == (False, "responded", 400, {"title": "Invalid Request"},
                                          1)


def test_declared_binary_types_come_back_as_base64(sdk, metered, upstream):
    png = b"\x89PNG\r\n\x1a\n\x00\x01binary"
    upstream.routes["/up/media"] = lambda h: h.reply(200, png, [("Content-Type", "image/png")])
    got = _call(sdk, metered, host="upload", path="/media").json()
    assert got["data"] is None and got["content_type"] == "image/png"
    assert base64.b64decode(got["data_base64"]) == png


def test_timeout_is_timed_out_and_billed(sdk, metered, upstream):
    upstream.routes["/slow"] = slow(3)
    start = credits.balance(metered.workspace)
    got = _call(sdk, metered, path="/slow").json()
    assert (got["success"], got["phase"], got["status_code"], got["credits_charged"]) == (
        False, "timed_out", None, 1)
    assert got["data"]["error"] == "request outcome unknown"
    assert credits.balance(metered.workspace) == start - 1


def test_connection_dropped_before_answer_is_sent_unconfirmed(sdk, metered, upstream):
    upstream.routes["/drop"] = raw(b"")
    got = _call(sdk, metered, path="/drop").json()
    assert (got["success"], got["phase"], got["credits_charged"]) == (
        False, "sent_unconfirmed", 1)


def test_connection_dropped_mid_response(sdk, metered, upstream):
    upstream.routes["/half"] = raw(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: 500\r\n\r\n{\"partial\":")
    got = _call(sdk, metered, path="/half").json()
    # the provider answered (it ran the request), but the body was cut off: billed, not success
    assert (got["success"], got["phase"], got["status_code"], got["credits_charged"]) == (
        False, "responded", 200, 1)
    assert got["data"]["error"] == "the response could not be read"
    assert CallLog.objects.get().phase == "responded"


def test_not_sent_is_free(sdk, metered, settings):
    port = free_port()  # nothing listens there
    settings.EGRESS_ALLOWED_PORTS = [*settings.EGRESS_ALLOWED_PORTS, port]
    settings.CONNECTOR_PROVIDER_OVERRIDES = {"twitter": {
        "hosts": {"api": f"http://127.0.0.1:{port}"}}}
    start = credits.balance(metered.workspace)
    got = _call(sdk, metered).json()
    assert (got["success"], got["phase"], got["status_code"], got["credits_charged"]) == (
        False, "not_sent", None, 0)
    assert credits.balance(metered.workspace) == start
    assert CallLog.objects.get().credits == 0


def test_egress_guard_applies(sdk, metered, settings):
    settings.EGRESS_ALLOW_CIDRS = []
    got = _call(sdk, metered).json()
    assert (got["phase"], got["credits_charged"]) == ("not_sent", 0)


def test_out_of_credits_is_402(sdk, metered, upstream):
    ws = metered.workspace
    credits.adjust(ws, 2 - credits.balance(ws), reason="test", idempotency_key="t-adjust")
    resp = _call(sdk, metered, method="POST", path="/2/tweets", body={})
    assert resp.status_code == 402
    assert resp.json()["extra_data"] == {"reason": "integration_credits_limit_reached"}
    assert resp.json()["message"] == "You have reached the limit of integrations for this month"
    assert credits.balance(ws) == 2 and not upstream.seen


@pytest.mark.parametrize("payload,code", [
    ({"path": "https://evil.example/x"}, "invalid_path"),
    ({"path": "//evil.example/x"}, "invalid_path"),
    ({"path": "x"}, "invalid_path"),
    ({"path": "/a/../admin"}, "invalid_path"),
    ({"path": "/a/%2e%2e/admin"}, "invalid_path"),
    ({"path": "/a\\b"}, "invalid_path"),
    ({"path": "/a%2Fb"}, "invalid_path"),
    ({"host": "nope"}, "unknown_host"),
    ({"method": "get"}, "invalid_method"),
    ({"query": {"a": {"b": 1}}}, "invalid_query"),
])
def test_bad_requests_are_400_and_free(sdk, metered, upstream, payload, code):
    start = credits.balance(metered.workspace)
    resp = _call(sdk, metered, **payload)
    assert resp.status_code == 400 and resp.json()["code"] == code
    assert credits.balance(metered.workspace) == start and not upstream.seen


def test_unknown_or_unconnected_connector_is_404(sdk, metered, personas):
    assert _call(sdk, metered, type_="..%2Fevil").status_code == 404
    assert _call(sdk, metered, type_="nosuch").status_code == 404
    assert _call(sdk, personas.outsider_app).status_code == 404


def test_metered_connector_refuses_raw_tokens(sdk, metered):
    resp = sdk(metered).get(f"/api/apps/{metered.public_id}/external-auth/tokens/twitter")
    assert resp.status_code == 403
    assert resp["X-Base44-Connector-Error"] == "metered_connector_requires_proxy"
    assert resp.json()["detail"] == (
        "Connector 'twitter' is metered — raw access tokens are not available for it. Call "
        f"POST /api/apps/{metered.public_id}/connectors/twitter/call instead.")
    assert "AT-metered" not in resp.content.decode()


def test_non_metered_connector_calls_are_free(sdk, personas, settings, upstream):
    settings.EGRESS_ALLOW_CIDRS = ["127.0.0.0/8"]
    settings.EGRESS_ALLOWED_PORTS = [upstream.port]
    settings.CONNECTOR_PROVIDER_OVERRIDES = {"github": {"hosts": {"api": upstream.url("")}}}
    make_connection(personas.app, access="AT-gh")
    upstream.routes["/user"] = body(b'{"login": "x"}')
    got = _call(sdk, personas.app, type_="github", path="/user").json()
    assert got["success"] is True and got["credits_charged"] == 0


def test_rate_limit_refuses_with_429_and_charges_nothing(sdk, metered, upstream, settings):
    settings.PROXY_RATE_LIMIT_PER_MINUTE = 2
    start = credits.balance(metered.workspace)
    assert [_call(sdk, metered).status_code for _ in range(2)] == [200, 200]
    refused = _call(sdk, metered)
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert "2 integration calls per minute" in refused.json()["detail"]
    assert int(refused["Retry-After"]) >= 1
    assert len(upstream.seen) == 2
    assert credits.balance(metered.workspace) == start - 2
    logged = CallLog.objects.order_by("id")
    assert [(r.response_status, r.error_code, r.credits) for r in logged][-1] == (
        429, "rate_limited", 0)
    # another app has its own budget
    other = make_app(metered.workspace, metered.created_by, "Second")
    make_connection(other, integration_type="twitter")
    assert _call(sdk, other).status_code == 200


def test_needs_reconnect_rejects_with_the_error_header(sdk, metered, upstream):
    from connectors.models import Connection

    Connection.objects.filter(app=metered).update(status="needs_reconnect",
                                                  last_error="invalid_grant")
    start = credits.balance(metered.workspace)
    resp = _call(sdk, metered)
    assert resp.status_code == 409
    assert resp["X-Base44-Connector-Error"] == "connector_needs_reconnect"
    assert "AT-metered" not in resp.content.decode()
    assert credits.balance(metered.workspace) == start and not upstream.seen
    assert CallLog.objects.get().error_code == "connector_needs_reconnect"


def test_workspace_connectors_are_never_metered(sdk, personas):
    """A registered connector of a metered provider type runs on the customer's own OAuth app:
    normal token access (sdk-protocol §3.2)."""
    from connectors.models import WorkspaceConnector

    own = WorkspaceConnector.objects.create(workspace=personas.workspace, name="Our X app",
                                            provider_type="x", client_id="c")
    make_connection(personas.app, kind="workspace", connector=own, access="AT-own-x")
    got = sdk(personas.app).get(f"/api/apps/{personas.app.public_id}/external-auth/tokens/"
                                f"connectors/{own.public_id}")
    assert got.status_code == 200
    assert got.json() == {"access_token": "AT-own-x", "integration_type": "x",
                          "connection_config": None}


def test_connector_calls_show_on_the_calls_page(client, sdk, metered, upstream, personas):
    from django.urls import reverse

    upstream.routes["/2/tweets"] = lambda h: h.reply(201, b"{}", [("Content-Type",
                                                                    "application/json")])
    resp = _call(sdk, metered, method="POST", path="/2/tweets", body={"text": "x"})
    client.force_login(personas.member)
    html = client.get(reverse("calls", args=[personas.workspace.public_id])).content.decode()
    assert resp["X-Request-Id"] in html and "connector:twitter" in html
    assert "AT-metered" not in html


def test_the_calls_page_filters_connector_calls(client, sdk, metered, upstream, personas):
    from django.urls import reverse

    upstream.routes["/2/tweets"] = lambda h: h.reply(201, b"{}", [("Content-Type",
                                                                    "application/json")])
    resp = _call(sdk, metered, method="POST", path="/2/tweets", body={"text": "x"})
    client.force_login(personas.member)
    url = reverse("calls", args=[personas.workspace.public_id])
    page = client.get(url).content.decode()
    assert '<option value="connector:twitter"' in page  # offered as a filter
    filtered = client.get(url, {"integration": "connector:twitter"}).content.decode()
    assert resp["X-Request-Id"] in filtered
    assert "is not one of the available choices" not in filtered
