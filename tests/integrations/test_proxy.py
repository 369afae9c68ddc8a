"""The proxy: envelope, operation matching, request building, validation, header precedence,
upstream failures, call log and the hot path's query count."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.utils import timezone

from integrations import runtime, services
from integrations.models import CallLog, WorkspaceIntegration
from tests.integrations import proxy_support
from tests.integrations.egress_support import Upstream, raw, redirect, slow
from tests.integrations.proxy_support import call_url, make_integration
from workspaces import credits

# the shared fixtures of the proxy tests
_fresh_proxy_state = proxy_support._fresh_proxy_state
egress_open = proxy_support.egress_open
upstream = proxy_support.upstream

pytestmark = pytest.mark.django_db


def reply(status: int, body: bytes, content_type: str | None = None,
          extra: list[tuple[str, str]] | None = None) -> Any:
    headers = [("Content-Type", content_type)] if content_type else []
    return lambda h: h.reply(status, body, headers + (extra or []))


@pytest.fixture
def pets(personas: Any, upstream: Upstream, egress_open: Any) -> WorkspaceIntegration:
    return make_integration(personas.workspace, upstream.url("/v1"),
                            headers=[("X-Tenant", "acme", False)])


@pytest.fixture
def client(personas: Any, sdk: Any) -> Any:
    return sdk(personas.app)


def post(client: Any, app: Any, op: str, body: Any = None, slug: str = "pets",
         query: str = "") -> Any:
    url = call_url(app.public_id, slug, op) + (f"?{query}" if query else "")
    return client.post(url, body if body is not None else {}, format="json")


def last(upstream: Upstream) -> Any:
    assert upstream.seen, "the upstream saw nothing"
    return upstream.seen[-1]


# --------------------------------------------------------------------------- envelope


def test_json_answer_is_an_envelope(client, personas, pets, upstream):
    upstream.routes["/v1/pets"] = reply(200, b'[{"id": 1}]', "application/json; charset=utf-8")
    r = post(client, personas.app, "get:/pets")
    assert r.status_code == 200
    assert r.json() == {"success": True, "status_code": 200, "data": [{"id": 1}]}
    assert r["X-Request-Id"].startswith("req_")


@pytest.mark.parametrize("status", [201, 204, 301, 400, 404, 418, 500, 503])
def test_any_upstream_status_is_a_200_envelope(client, personas, pets, upstream, status):
    body = b"" if status == 204 else b'{"error": "x"}'
    upstream.routes["/v1/pets"] = reply(status, body, "application/json")
    r = post(client, personas.app, "get:/pets")
    assert r.status_code == 200
    assert r.json() == {"success": 200 <= status < 300, "status_code": status,
                        "data": None if status == 204 else {"error": "x"}}


def test_text_and_binary_answers(client, personas, pets, upstream):
    upstream.routes["/v1/text"] = reply(200, "héllo".encode(), "text/plain; charset=utf-8")
    r = post(client, personas.app, "get:/text")
    assert r.json() == {"success": True, "status_code": 200, "data": "héllo"}
    png = b"\x89PNG\r\n\x1a\n\x00\x00binary\xff"
    upstream.routes["/v1/binary"] = reply(200, png, "image/png")
    r = post(client, personas.app, "get:/binary")
    assert r.json() == {"success": True, "status_code": 200, "data": None,
                        "data_base64": base64.b64encode(png).decode(),
                        "content_type": "image/png"}
    upstream.routes["/v1/binary"] = reply(200, png)  # no content type: sniffed as binary
    assert post(client, personas.app, "get:/binary").json()["data_base64"]
    upstream.routes["/v1/text"] = reply(200, b"not json {", "application/json")
    assert post(client, personas.app, "get:/text").json()["data"] == "not json {"


def test_json_nested_past_the_decoders_depth_comes_back_as_text(client, personas, pets,
                                                                upstream):
    deep = b"[" * 100_000 + b"]" * 100_000  # json.loads raises RecursionError on this
    upstream.routes["/v1/text"] = reply(200, deep, "application/json")
    r = post(client, personas.app, "get:/text")
    assert r.status_code == 200
    assert r.json() == {"success": True, "status_code": 200, "data": deep.decode()}


def test_redirects_are_returned_not_followed(client, personas, pets, upstream):
    upstream.routes["/v1/redirect"] = redirect("http://169.254.169.254/latest/meta-data/")
    r = post(client, personas.app, "get:/redirect", {"include_headers": True})
    body = r.json()
    assert r.status_code == 200 and body["success"] is False and body["status_code"] == 302
    assert body["data"] == "moved"
    assert body["headers"]["location"] == "http://169.254.169.254/latest/meta-data/"
    assert len(upstream.seen) == 1


def test_include_headers_strips_hop_by_hop_and_cookies(client, personas, pets, upstream):
    upstream.routes["/v1/pets"] = reply(200, b"{}", "application/json", [
        ("X-RateLimit-Remaining", "41"), ("Connection", "keep-alive, X-Private"),
        ("X-Private", "hop"), ("Keep-Alive", "timeout=5"), ("Set-Cookie", "sid=shared"),
        ("Trailer", "x")])
    r = post(client, personas.app, "get:/pets", {"include_headers": True})
    headers = r.json()["headers"]
    assert headers["x-ratelimit-remaining"] == "41"
    assert headers["content-type"] == "application/json"
    for name in ("connection", "x-private", "keep-alive", "set-cookie", "trailer"):
        assert name not in headers
    assert "headers" not in post(client, personas.app, "get:/pets").json()


# --------------------------------------------------------------------------- matching


def test_operation_matching_rules(client, personas, pets, upstream):
    assert post(client, personas.app, "GET:/pets").status_code == 200  # method: any case
    assert post(client, personas.app, "listPets").status_code == 200  # legacy operationId
    r = post(client, personas.app, "get:/Pets")  # path: exact
    assert r.status_code == 404
    assert r.json() == {"detail": "Operation 'get:/Pets' not found in integration 'pets'",
                        "code": "operation_not_found"}
    assert post(client, personas.app, "get:/pets/").status_code == 404
    assert post(client, personas.app, "get:/not-selected").status_code == 404  # in spec only
    r = post(client, personas.app, "get:/pets", query="x=1")  # '?' inside the operationId
    assert r.status_code == 404
    assert r.json()["detail"] == "Operation 'get:/pets?x=1' not found in integration 'pets'"
    r = post(client, personas.app, "get:/pets", slug="crm")
    assert r.status_code == 404
    assert r.json() == {"detail": "Custom integration 'crm' not found in workspace",
                        "code": "integration_not_found"}
    assert len(upstream.seen) == 2


def test_integrations_of_other_workspaces_are_invisible(personas, sdk, pets, upstream):
    r = post(sdk(personas.outsider_app), personas.outsider_app, "get:/pets")
    assert r.status_code == 404 and r.json()["code"] == "integration_not_found"
    assert upstream.seen == []


# --------------------------------------------------------------------------- request building


def test_path_query_and_body_are_built(client, personas, pets, upstream):
    r = post(client, personas.app, "post:/repos/{owner}/{repo}/issues", {
        "path_params": {"owner": "a b", "repo": "ü"},
        "query_params": {"state": "open", "labels": ["x", 2, True], "flag": False,
                         "skip": None},
        "payload": {"title": "t"},
    })
    assert r.status_code == 200, r.json()
    seen = last(upstream)
    parts = urlsplit(seen.path)
    assert parts.path == "/v1/repos/a%20b/%C3%BC/issues"
    assert parse_qsl(parts.query) == [("state", "open"), ("labels", "x"), ("labels", "2"),
                                      ("labels", "true"), ("flag", "false")]
    assert seen.method == "POST" and json.loads(seen.body) == {"title": "t"}
    assert seen.headers["content-type"] == "application/json"


def test_typed_params_accept_their_text_form(client, personas, pets, upstream):
    r = post(client, personas.app, "get:/pets/{petId}", {"path_params": {"petId": "042"}})
    assert r.status_code == 200 and last(upstream).path == "/v1/pets/042"
    r = post(client, personas.app, "get:/pets", {"query_params": {
        "limit": "10", "fresh": "true", "tags": "one"}})
    assert r.status_code == 200
    assert parse_qsl(urlsplit(last(upstream).path).query) == [
        ("limit", "10"), ("fresh", "true"), ("tags", "one")]


def test_form_and_bodyless_methods(client, personas, pets, upstream):
    r = post(client, personas.app, "put:/forms/{name}", {
        "path_params": {"name": "n"}, "payload": {"a": "x y", "list": [1, 2],
                                                  "nested": {"k": "v"}}})
    assert r.status_code == 200
    seen = last(upstream)
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(seen.body.decode()) == [("a", "x y"), ("list", "1"), ("list", "2"),
                                             ("nested[k]", "v")]
    post(client, personas.app, "get:/pets", {"payload": {"ignored": True}})
    assert last(upstream).body == b"" and "content-type" not in last(upstream).headers


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("body, field, fragment", [
    ({"path_params": {}}, ("path_params", "petId"), "is required"),
    ({"path_params": {"petId": None}}, ("path_params", "petId"), "is required"),
    ({"path_params": {"petId": "abc"}}, ("path_params", "petId"), "is not of type 'integer'"),
    ({"path_params": {"petId": 1.5}}, ("path_params", "petId"), "is not of type 'integer'"),
    ({"path_params": {"petId": [1]}}, ("path_params", "petId"), "string, number or boolean"),
    ({"path_params": "1"}, ("path_params", None), "must be an object"),
])
def test_path_param_validation(client, personas, pets, upstream, body, field, fragment):
    r = post(client, personas.app, "get:/pets/{petId}", body)
    assert r.status_code == 400
    data = r.json()
    assert data["code"] == "invalid_params" and fragment in data["detail"]
    group, name = field
    messages = data["errors"][group] if name is None else data["errors"][group][name]
    assert any(fragment in m for m in messages)
    assert upstream.seen == []


@pytest.mark.parametrize("query, fragment", [
    ({"limit": 101}, "101 is greater than the maximum of 100"),
    ({"limit": "ten"}, "'ten' is not of type 'integer'"),
    ({"status": "lost"}, "'lost' is not one of ['available', 'pending', 'sold']"),
    ({"fresh": "yes"}, "'yes' is not of type 'boolean'"),
    ({"tags": [{"a": 1}]}, "array items must be strings"),
    ({"other": {"a": 1}}, "objects are not supported"),
])
def test_query_param_validation(client, personas, pets, upstream, query, fragment):
    r = post(client, personas.app, "get:/pets", {"query_params": query})
    assert r.status_code == 400 and fragment in r.json()["detail"], r.json()
    assert upstream.seen == []


def test_required_query_params_and_bodies(client, personas, pets, upstream):
    r = post(client, personas.app, "post:/repos/{owner}/{repo}/issues",
             {"path_params": {"owner": "o", "repo": "r"}})
    assert r.status_code == 400
    assert r.json()["errors"] == {"query_params": {"state": ["is required"]}}
    r = post(client, personas.app, "post:/pets", {})
    assert r.status_code == 400 and r.json()["errors"] == {"payload": ["is required"]}
    r = post(client, personas.app, "post:/pets", {"payload": {"age": -1, "kind": "cow"}})
    errors = r.json()["errors"]["payload"]
    assert "'name' is a required property" in errors
    assert "age: -1 is less than the minimum of 0" in errors
    assert "kind: 'cow' is not one of ['cat', 'dog']" in errors
    r = post(client, personas.app, "post:/pets", {"payload": {"name": "Rex", "kind": "dog"}})
    assert r.status_code == 200
    assert len(upstream.seen) == 1


def test_validation_errors_cost_nothing_and_are_logged(client, personas, pets, upstream):
    before = credits.balance(personas.workspace)
    post(client, personas.app, "get:/pets/{petId}", {"path_params": {"petId": "x"}})
    post(client, personas.app, "get:/pets", ["a"])  # not an object
    assert credits.balance(personas.workspace) == before
    rows = list(CallLog.objects.order_by("id"))
    assert [(r.response_status, r.error_code, r.credits, r.phase) for r in rows] == [
        (400, "invalid_params", 0, "not_sent"), (400, "invalid_params", 0, "not_sent")]


# --------------------------------------------------------------------------- headers


def test_header_precedence(client, personas, pets, upstream):
    r = post(client, personas.app, "get:/pets", {"headers": {
        "x-tenant": "evil", "X-TENANT": "evil2", "X-Request-Tag": "mine", "Accept": "text/csv"}})
    assert r.status_code == 200
    seen = last(upstream).headers
    assert seen["x-tenant"] == "acme"  # the integration's header always wins
    assert seen["x-request-tag"] == "mine"  # an app may add a new one
    assert seen["accept"] == "text/csv"
    # the app's own credentials never travel upstream
    assert not any(v.startswith("Bearer") for v in seen.values())


@pytest.mark.parametrize("name, value", [
    ("Host", "evil.example"), ("Content-Length", "1"), ("Transfer-Encoding", "chunked"),
    ("Connection", "close"), ("Proxy-Authorization", "Basic x"), ("TE", "trailers"),
    ("Upgrade", "h2c"), ("Authorization", "Bearer app-secret"), ("X-Api-Key", "k"),
    ("X-Session-Token", "t"), ("Cookie", "a=b"),
])
def test_apps_may_not_send_forbidden_or_sensitive_headers(client, personas, pets, upstream,
                                                          name, value):
    r = post(client, personas.app, "get:/pets", {"headers": {name: value}})
    assert r.status_code == 400, r.json()
    assert name in r.json()["errors"]["headers"]
    assert upstream.seen == []


@pytest.mark.parametrize("name, value", [
    ("X-Evil", "a\r\nInjected: 1"), ("X-Evil", "a\nb"), ("X-Evil", "a\x00b"),
    ("Bad Name", "v"), ("X-Evil\r\nInjected", "v"), ("X-Num", {"a": 1}),
])
def test_header_injection_is_refused(client, personas, pets, upstream, name, value):
    r = post(client, personas.app, "get:/pets", {"headers": {name: value}})
    assert r.status_code == 400 and r.json()["code"] == "invalid_params"
    assert upstream.seen == []


def test_sensitive_integration_headers_win_and_are_resolved(personas, sdk, upstream,
                                                            egress_open):
    make_integration(personas.workspace, upstream.url("/v1"), slug="secure",
                     headers=[("Authorization", "Bearer vault-value", True)])
    r = post(sdk(personas.app), personas.app, "get:/pets",
             {"headers": {"authorization": "Bearer app"}}, slug="secure")
    assert r.status_code == 200
    assert last(upstream).headers["authorization"] == "Bearer vault-value"


def test_unloadable_sensitive_header_blocks_the_call(personas, sdk, upstream, egress_open):
    integration = make_integration(personas.workspace, upstream.url("/v1"), slug="broken",
                                   headers=[("X-Api-Key", "v", True)])
    integration.headers.update(secret_name="__integration_gone_h1")
    r = post(sdk(personas.app), personas.app, "get:/pets", slug="broken")
    assert r.status_code == 503 and r.json()["code"] == "integration_headers_unavailable"
    assert upstream.seen == [] and credits.balance(personas.workspace) == 2000


# --------------------------------------------------------------------------- failures


def test_unreachable_upstream_is_502_and_not_billed(client, personas, upstream, egress_open):
    closed = Upstream()
    port = closed.port
    closed.close()
    egress_open.EGRESS_ALLOWED_PORTS = [80, 443, port]
    make_integration(personas.workspace, f"http://127.0.0.1:{port}", slug="down")
    r = post(client, personas.app, "get:/pets", slug="down")
    assert r.status_code == 502
    assert r.json() == {"detail": "Failed to connect to external API: Connection refused",
                        "code": "upstream_unreachable", "phase": "not_sent"}
    assert credits.balance(personas.workspace) == 2000
    row = CallLog.objects.get()
    assert (row.phase, row.credits, row.status_code, row.response_status) == (
        "not_sent", 0, None, 502)


def test_garbage_answer_is_502(client, personas, pets, upstream):
    upstream.routes["/v1/garbage"] = raw(b"this is not HTTP\r\n\r\n")
    r = post(client, personas.app, "get:/garbage")
    assert r.status_code == 502
    assert r.json()["code"] == "upstream_bad_response"
    assert r.json()["detail"].startswith("Failed to connect to external API:")
    # the request did reach the upstream (it may have run there): billed, like a timeout
    assert r.json()["phase"] == "sent_unconfirmed"
    assert credits.balance(personas.workspace) == 1999
    assert CallLog.objects.get().credits == 1


def test_timeout_is_504_and_billed(client, personas, pets, upstream, egress_open):
    egress_open.PROXY_TIMEOUT_SECONDS = 0.3
    upstream.routes["/v1/slow"] = slow(1.5)
    r = post(client, personas.app, "get:/slow")
    assert r.status_code == 504
    assert r.json()["code"] == "upstream_timeout" and r.json()["phase"] == "timed_out"
    assert credits.balance(personas.workspace) == 1999  # it reached the upstream
    assert CallLog.objects.get().credits == 1


def test_oversized_answer_is_502(client, personas, pets, upstream, egress_open):
    egress_open.PROXY_MAX_RESPONSE_BYTES = 1000
    upstream.routes["/v1/text"] = reply(200, b"x" * 5000, "text/plain")
    r = post(client, personas.app, "get:/text")
    assert r.status_code == 502 and r.json()["code"] == "upstream_response_too_large"


# --------------------------------------------------------------------------- log, cache, queries


def test_call_log_row(client, personas, pets, upstream):
    upstream.routes["/v1/pets"] = reply(201, b'{"id": 1}', "application/json")
    r = post(client, personas.app, "post:/pets", {"payload": {"name": "Rex"}})
    row = CallLog.objects.get()
    assert row.request_id == r["X-Request-Id"]
    assert (row.app, row.integration, row.integration_slug, row.operation) == (
        personas.app, pets, "pets", "post:/pets")
    assert (row.caller_kind, row.phase, row.status_code, row.response_status) == (
        "service", "responded", 201, 200)
    assert (row.request_bytes, row.response_bytes, row.credits) == (14, 9, 1)
    entry = credits.CreditEntry.objects.get(idempotency_key=f"proxy:{row.request_id}")
    assert entry.amount == -1 and entry.reference_id == pets.public_id


def test_last_used_at_is_written_at_most_once_a_minute(client, personas, pets, upstream,
                                                       settings):
    settings.SDK_LOOKUP_CACHE_SECONDS = 0  # the test moves last_used_at behind the cache's back
    post(client, personas.app, "get:/pets")
    pets.refresh_from_db()
    first = pets.last_used_at
    assert first is not None
    post(client, personas.app, "get:/pets")
    pets.refresh_from_db()
    assert pets.last_used_at == first
    WorkspaceIntegration.objects.filter(pk=pets.pk).update(
        last_used_at=timezone.now() - timedelta(minutes=5))
    post(client, personas.app, "get:/pets")
    pets.refresh_from_db()
    assert pets.last_used_at > first


def test_hot_path_runs_a_constant_number_of_queries(client, personas, pets, upstream,
                                                    django_assert_max_num_queries):
    """Service token (1), integration lookup (1), the ledger's charge on its locked path (7:
    idempotency check, account, row lock, update, the app's month usage locked with its cap,
    its update, entry), the call log (1): 10 statements, plus the SAVEPOINT and RELEASE the
    test's own transaction adds around the ledger's atomic block. (Outside a transaction, on
    PostgreSQL, the charge and the usage are one statement: test_hot_path.)"""
    with django_assert_max_num_queries(21):  # cold: the config, the month's usage row
        post(client, personas.app, "get:/pets/{petId}", {"path_params": {"petId": 1}})
    for n in range(3):
        with django_assert_max_num_queries(12):
            r = post(client, personas.app, "get:/pets/{petId}",
                     {"path_params": {"petId": n}, "query_params": {"x": n}})
            assert r.status_code == 200


def test_the_query_count_of_a_warm_call_does_not_depend_on_the_call(personas, sdk, pets,
                                                                    upstream):
    """Whatever the operation, parameters, body, upstream answer or integration: the same
    statements per warm call (the config is cached; nothing is loaded per operation)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_integration(personas.workspace, upstream.url("/v1"), slug="other",
                     headers=[("X-Api-Key", "k", True), ("X-A", "1", False),
                              ("X-B", "2", False)])
    upstream.routes["/v1/status/404"] = reply(404, b'{"e": 1}', "application/json")
    client = sdk(personas.app)
    calls = [
        ("pets", "get:/pets/{petId}", {"path_params": {"petId": 1}}),
        ("pets", "get:/pets", {"query_params": {"limit": 5, "tags": ["a", "b", "c"]}}),
        ("pets", "post:/pets", {"payload": {"name": "Rex", "kind": "dog"}}),
        ("pets", "get:/status/{code}", {"path_params": {"code": 404}}),
        ("other", "post:/repos/{owner}/{repo}/issues", {
            "path_params": {"owner": "o", "repo": "r"}, "query_params": {"state": "open"},
            "payload": {"title": "t"}, "headers": {"X-Trace": "1"}}),
    ]
    for slug, op, body in calls:  # warm every config and operation plan
        assert post(client, personas.app, op, body, slug=slug).status_code == 200
    counts = []
    for slug, op, body in calls * 2:
        with CaptureQueriesContext(connection) as ctx:
            assert post(client, personas.app, op, body, slug=slug).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert len(set(counts)) == 1, counts
    assert counts[0] <= 12  # the locked ledger path, app usage included (see above)


def test_an_edit_is_seen_by_the_next_call(client, personas, pets, upstream):
    post(client, personas.app, "get:/pets")
    assert last(upstream).headers["x-tenant"] == "acme"
    services.update_integration(pets, actor=personas.owner, headers=[
        services.HeaderInput("X-Tenant", "globex")], operation_keys=["get:/pets", "get:/text"])
    post(client, personas.app, "get:/pets")
    assert last(upstream).headers["x-tenant"] == "globex"
    assert post(client, personas.app, "post:/pets", {"payload": {"name": "x"}}).status_code \
        == 404
    # and a save that does not bump the version (the admin) is seen too (updated_at)
    pets.refresh_from_db()
    pets.base_url = upstream.url("/v2")
    pets.save()
    post(client, personas.app, "get:/pets")
    assert last(upstream).path == "/v2/pets"


def test_config_cache_is_keyed_by_version(personas, pets, settings):
    settings.SDK_LOOKUP_CACHE_SECONDS = 0  # the version moves behind the lookup cache's back
    ref = runtime.lookup(personas.workspace.pk, "pets")
    assert ref is not None
    config = runtime.config_for(ref)
    assert runtime.config_for(ref) is config
    WorkspaceIntegration.objects.filter(pk=pets.pk).update(config_version=ref.config_version + 1)
    newer = runtime.lookup(personas.workspace.pk, "pets")
    assert newer is not None and runtime.config_for(newer) is not config


def test_handle_stays_in_a_handful_of_routes(personas, pets, client, upstream):
    """Each integration has its own slug route; unrelated SDK routes are not shadowed."""
    r = client.post(f"/api/apps/{personas.app.public_id}/integrations/custom/pets", {},
                    format="json")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = client.get(call_url(personas.app.public_id, "pets", "get:/pets"))
    assert r.status_code == 405 and "detail" in r.json()
