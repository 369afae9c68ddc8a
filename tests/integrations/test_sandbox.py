"""Sandbox mode through the SDK route: answers from the spec's examples or generated from the
response schema, the same checks as a real call up to the send, free, no socket opened,
marked in the call log and the envelope; an app without sandbox mode is unaffected."""

from __future__ import annotations

import copy
import socket
from typing import Any

import jsonschema
import pytest

from integrations.models import CallLog
from integrations.proxy import sandbox
from tests.factories import make_app
from tests.integrations import proxy_support
from tests.integrations.egress_support import Upstream
from tests.integrations.proxy_support import call_url, make_integration
from workspaces import credits
from workspaces.models import CreditEntry

_fresh_proxy_state = proxy_support._fresh_proxy_state
egress_open = proxy_support.egress_open
upstream = proxy_support.upstream

pytestmark = pytest.mark.django_db

PET = {"type": "object", "required": ["id", "name"], "properties": {
    "id": {"type": "integer", "minimum": 1},
    "name": {"type": "string", "minLength": 1, "maxLength": 30},
    "tag": {"type": "string", "pattern": "^[a-z]{2,5}$"},
    "kind": {"$ref": "#/components/schemas/Kind"},
    "born": {"type": "string", "format": "date"},
    "vaccinated": {"type": "boolean"},
    "owner": {"$ref": "#/components/schemas/Owner"},
}}
NODE = {"type": "object", "required": ["name"], "properties": {  # recursive
    "name": {"type": "string"},
    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
    "parent": {"$ref": "#/components/schemas/Node"},
}}
PET_REF = {"$ref": "#/components/schemas/Pet"}
LISTED = [{"id": 1, "name": "Rex"}, {"id": 2, "name": "Tom", "tag": "cat"}]

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Pets", "version": "1"},
    "paths": {
        "/pets": {
            "get": {"parameters": [{"name": "limit", "in": "query",
                                    "schema": {"type": "integer", "maximum": 100}}],
                    "responses": {
                        "default": {"description": "error", "content": {"application/json": {
                            "example": {"error": "never this one"}}}},
                        "200": {"description": "ok", "content": {
                            "application/xml": {"example": "<pets/>"},
                            "application/json": {"schema": {"type": "array", "items": PET_REF},
                                                 "example": LISTED}}}}},
            "post": {"requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Pet"}}}},
                     "responses": {"201": {"description": "created", "content": {
                         "application/json": {"schema": {"$ref": "#/components/schemas/Pet"},
                                              "examples": {
                                                  "first": {"$ref": "#/components/examples/Rex"},
                                                  "second": {"value": {"id": 9, "name": "x"}}}}}}}},
        },
        "/pets/{petId}": {
            "parameters": [{"name": "petId", "in": "path", "required": True,
                            "schema": {"type": "integer"}}],
            "get": {"responses": {
                "202": {"description": "later"},
                "200": {"description": "ok", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Pet"}}}}}},
            "delete": {"responses": {"204": {"description": "gone"}}},
        },
        "/owners/{id}": {"get": {
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "ok", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Owner"}}}}}}},
        "/tree": {"get": {"responses": {"200": {"description": "ok", "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}}}}},
    },
    "components": {
        "schemas": {
            "Pet": PET,
            "Kind": {"type": "string", "enum": ["cat", "dog"]},
            "Owner": {"type": "object", "required": ["id"],
                      "properties": {"id": {"type": "string"}, "email": {"type": "string"}},
                      "example": {"id": "own_1", "email": "ann@example.com"}},
            "Node": NODE,
        },
        "examples": {"Rex": {"value": {"id": 7, "name": "Rex", "kind": "dog"}}},
    },
}
KEYS = ["get:/pets", "post:/pets", "get:/pets/{petId}", "delete:/pets/{petId}",
        "get:/owners/{id}", "get:/tree"]

SWAGGER: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "Old", "version": "1"},
    "host": "old.example.com",
    "produces": ["application/json"],
    "paths": {"/things": {"get": {"responses": {"200": {
        "description": "ok", "schema": {"$ref": "#/definitions/Thing"},
        "examples": {"application/json": {"id": "t_1", "size": 3}}}}}},
        "/things/{id}": {"get": {
            "parameters": [{"name": "id", "in": "path", "required": True, "type": "string"}],
            "responses": {"200": {"description": "ok",
                                  "schema": {"$ref": "#/definitions/Thing"}}}}}},
    "definitions": {"Thing": {"type": "object", "required": ["id", "size"], "properties": {
        "id": {"type": "string"}, "size": {"type": "integer", "minimum": 1, "maximum": 5}}}},
}


def schema_of(name: str, spec: dict[str, Any] = SPEC) -> dict[str, Any]:
    """A self-contained JSON Schema for ``components/schemas/<name>`` (refs resolvable)."""
    return {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}


@pytest.fixture
def pets(personas: Any, upstream: Upstream, egress_open: Any) -> Any:
    return make_integration(personas.workspace, upstream.url("/v1"), spec=SPEC, keys=KEYS,
                            headers=[("X-Api-Key", "sk_live_secret", True)])


@pytest.fixture
def sandboxed(personas: Any) -> Any:
    app = personas.app
    app.sandbox_mode = True
    app.save()
    return app


@pytest.fixture
def no_sockets(monkeypatch: Any) -> list[Any]:
    """Any outbound connection or name lookup fails the test loudly (and is recorded)."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise AssertionError(f"sandbox call opened a connection: {args!r}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def post(client: Any, app: Any, op: str, body: Any = None, slug: str = "pets") -> Any:
    return client.post(call_url(app.public_id, slug, op), body if body is not None else {},
                       format="json")


def test_the_media_types_example_of_the_first_2xx_comes_back_in_the_envelope(
        personas, sdk, pets, sandboxed, upstream, no_sockets):
    r = post(sdk(sandboxed), sandboxed, "get:/pets", {"query_params": {"limit": 5}})
    assert r.status_code == 200
    assert r.json() == {"success": True, "status_code": 200, "data": LISTED, "sandbox": True}
    assert r["X-Request-Id"].startswith("req_")
    assert upstream.seen == [] and no_sockets == []


def test_named_examples_follow_refs_and_the_first_is_used(personas, sdk, pets, sandboxed):
    r = post(sdk(sandboxed), sandboxed, "post:/pets", {"payload": {"id": 1, "name": "Rex"}})
    assert r.json() == {"success": True, "status_code": 201,
                        "data": {"id": 7, "name": "Rex", "kind": "dog"}, "sandbox": True}


def test_a_schema_level_example_is_used(personas, sdk, pets, sandboxed):
    r = post(sdk(sandboxed), sandboxed, "get:/owners/{id}", {"path_params": {"id": "x"}})
    assert r.json()["data"] == {"id": "own_1", "email": "ann@example.com"}


def test_without_an_example_the_value_is_generated_valid_and_deterministic(
        personas, sdk, pets, sandboxed, no_sockets):
    client = sdk(sandboxed)
    r = post(client, sandboxed, "get:/pets/{petId}", {"path_params": {"petId": 3}})
    body = r.json()
    assert r.status_code == 200 and body["status_code"] == 200 and body["sandbox"] is True
    jsonschema.Draft4Validator(schema_of("Pet")).validate(body["data"])
    assert body["data"]["name"] and body["data"]["id"] >= 1
    sandbox.forget()  # generated again from scratch: the same value
    again = post(client, sandboxed, "get:/pets/{petId}", {"path_params": {"petId": 4}})
    assert again.json()["data"] == body["data"]
    assert no_sockets == []


def test_a_recursive_schema_gives_a_bounded_valid_value(personas, sdk, pets, sandboxed):
    data = post(sdk(sandboxed), sandboxed, "get:/tree").json()["data"]
    jsonschema.Draft4Validator(schema_of("Node")).validate(data)

    def depth(node: Any) -> int:
        kids = [depth(c) for c in node.get("children", [])]
        return 1 + max(kids + [depth(node["parent"])] if "parent" in node else kids + [0])

    assert depth(data) <= sandbox.MAX_REF_DEPTH + 1


def test_a_204_answers_no_data(personas, sdk, pets, sandboxed):
    r = post(sdk(sandboxed), sandboxed, "delete:/pets/{petId}", {"path_params": {"petId": 1}})
    assert r.json() == {"success": True, "status_code": 204, "data": None, "sandbox": True}


def test_swagger_2_examples_and_schemas(personas, sdk, sandboxed, upstream, egress_open):
    make_integration(personas.workspace, upstream.url("/v1"), slug="old", spec=SWAGGER,
                     keys=["get:/things", "get:/things/{id}"])
    client = sdk(sandboxed)
    assert post(client, sandboxed, "get:/things", slug="old").json()["data"] == {
        "id": "t_1", "size": 3}
    data = post(client, sandboxed, "get:/things/{id}", {"path_params": {"id": "a"}},
                slug="old").json()["data"]
    jsonschema.Draft4Validator({"$ref": "#/definitions/Thing",
                                "definitions": SWAGGER["definitions"]}).validate(data)


def test_bad_parameters_and_unknown_operations_are_still_refused(personas, sdk, pets,
                                                                 sandboxed):
    client = sdk(sandboxed)
    r = post(client, sandboxed, "get:/pets/{petId}", {"path_params": {"petId": "abc"}})
    assert r.status_code == 400 and r.json()["code"] == "invalid_params"
    assert "petId" in r.json()["errors"]["path_params"]
    r = post(client, sandboxed, "post:/pets", {"payload": {"name": ""}})
    assert r.status_code == 400
    assert post(client, sandboxed, "get:/nope").status_code == 404
    assert post(client, sandboxed, "get:/pets", slug="nope").status_code == 404
    assert post(sdk(None), sandboxed, "get:/pets").status_code in (401, 403)
    rows = CallLog.objects.filter(app=sandboxed).order_by("id")
    assert [r.response_status for r in rows] == [400, 400, 404, 404]


def test_sandbox_calls_are_free_and_logged_as_sandbox(personas, sdk, pets, sandboxed):
    before = credits.balance(personas.workspace)
    entries = CreditEntry.objects.count()
    r = post(sdk(sandboxed), sandboxed, "get:/pets")
    assert r.status_code == 200
    assert credits.balance(personas.workspace) == before
    assert CreditEntry.objects.count() == entries
    row = CallLog.objects.get(request_id=r["X-Request-Id"])
    assert row.sandbox is True and row.phase == CallLog.Phase.NOT_SENT and row.credits == 0
    assert (row.response_status, row.status_code, row.operation) == (200, 200, "get:/pets")
    assert row.integration_slug == "pets" and row.app_id == sandboxed.pk


def test_sandbox_calls_work_with_no_credits_left(personas, sdk, pets, sandboxed):
    credits.adjust(personas.workspace, -credits.balance(personas.workspace), reason="test",
                   idempotency_key="empty")
    assert post(sdk(sandboxed), sandboxed, "get:/pets").status_code == 200


def test_the_rate_limit_gate_still_applies(personas, sdk, pets, sandboxed, monkeypatch):
    from integrations import bulkhead, ratelimit

    def limited(app_key: str, integration_key: str | None) -> Any:
        raise ratelimit.Limited(ratelimit.Decision(False, 2, 0, 30))

    monkeypatch.setattr(bulkhead, "admit", limited)
    r = post(sdk(sandboxed), sandboxed, "get:/pets")
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert CallLog.objects.get(app=sandboxed).sandbox is True


def test_an_app_without_sandbox_mode_is_unaffected(personas, sdk, pets, upstream):
    upstream.routes["/v1/pets"] = lambda h: h.reply(200, b'[{"id": 42}]',
                                                    [("Content-Type", "application/json")])
    other = make_app(personas.workspace, personas.owner, "Live")
    before = credits.balance(personas.workspace)
    r = post(sdk(other), other, "get:/pets")
    assert r.json() == {"success": True, "status_code": 200, "data": [{"id": 42}]}
    assert len(upstream.seen) == 1 and upstream.seen[0].headers["x-api-key"] == "sk_live_secret"
    assert credits.balance(personas.workspace) == before - 1
    row = CallLog.objects.get(request_id=r["X-Request-Id"])
    assert row.sandbox is False and row.phase == CallLog.Phase.RESPONDED and row.credits == 1


def test_switching_sandbox_off_sends_again(personas, sdk, pets, sandboxed, upstream):
    client = sdk(sandboxed)
    assert post(client, sandboxed, "get:/pets").json()["sandbox"] is True
    sandboxed.sandbox_mode = False
    sandboxed.save()
    r = post(client, sandboxed, "get:/pets")
    assert "sandbox" not in r.json() and len(upstream.seen) == 1


def test_the_sandbox_answer_never_shows_header_values(personas, sdk, pets, sandboxed):
    for op, body in [("get:/pets", {}), ("get:/pets/{petId}", {"path_params": {"petId": 1}}),
                     ("get:/tree", {})]:
        assert "sk_live_secret" not in post(sdk(sandboxed), sandboxed, op, body).content.decode()


def test_a_bulky_spec_is_generated_within_bounds():
    """Stripe: deep, recursive, thousands of schemas. Every answer fits its schema, is small
    and bounded; the module's own check uses the proxy's validator on the original refs."""
    import json

    from integrations import openapi
    from tests.integrations.wizard_support import SPECS

    path = SPECS / "stripe-2022-04-3.0.json"
    doc = json.loads(path.read_text())
    keys = ["get:/v1/customers/{customer}", "get:/v1/charges", "post:/v1/checkout/sessions",
            "get:/v1/invoices/{invoice}", "get:/v1/subscriptions/{subscription_exposed_id}"]
    sub = openapi.extract_operations(doc, keys)
    for key in keys:
        status, media, _response, pointer = sandbox.pick_response(sub, key)
        assert (status, media) == (200, "application/json") and pointer
        value = sandbox.generate(sub, pointer, seed=key)
        assert value is not sandbox._NO_ANSWER, key
        assert len(json.dumps(value)) <= sandbox.MAX_BYTES
        assert isinstance(value, dict) and sandbox.response_validator(sub, pointer).is_valid(value)
        # and by jsonschema on its own, with the refs resolved against the sub-document
        validator = jsonschema.Draft4Validator({**copy.deepcopy(sub), "$ref": pointer})
        nullable_free = _nullable_as_null(validator, value)
        assert nullable_free == [], (key, nullable_free[:3])


NESTED_REQUIRED = {
    "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
    "paths": {"/files/{id}": {"get": {"responses": {"200": {
        "description": "ok",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/File"}}}}}}}},
    "components": {"schemas": {
        "File": {"type": "object", "required": ["id"], "properties": {
            "id": {"type": "string"},
            # the whole requires the names, a nested allOf part describes them (as Box does)
            "permissions": {"allOf": [{
                "type": "object", "required": ["can_share", "can_preview"],
                "allOf": [{"properties": {"can_share": {"type": "boolean"}}},
                          {"properties": {"can_preview": {"type": "boolean"}}}]}]}}}}},
}


def test_a_property_required_by_an_allof_and_described_by_a_nested_part_is_generated():
    pointer = sandbox.pick_response(NESTED_REQUIRED, "get:/files/{id}")[3]
    value = sandbox.generate(NESTED_REQUIRED, pointer, seed="nested")
    assert value is not sandbox._NO_ANSWER
    assert isinstance(value["permissions"]["can_share"], bool)
    assert isinstance(value["permissions"]["can_preview"], bool)


@pytest.mark.parametrize("key", ["get:/files/{file_id}", "get:/folders/{folder_id}",
                                 "post:/folders", "post:/files/{file_id}/copy"])
def test_boxs_file_and_folder_operations_answer_data_that_fits_their_schema(key):
    """Box nests allOf parts under required lists: these answered data null before."""
    import json

    from integrations import openapi
    from tests.integrations.wizard_support import SPECS

    sub = openapi.extract_operations(json.loads((SPECS / "box-3.0.json").read_text()), [key])
    status, data = sandbox._build_answer(sub, key, "box")
    pointer = sandbox.pick_response(sub, key)[3]
    assert status in (200, 201) and isinstance(data, dict) and data
    assert sandbox.response_validator(sub, pointer).is_valid(data)


def _nullable_as_null(validator: Any, value: Any) -> list[str]:
    """jsonschema's errors, less those where OpenAPI 3.0's ``nullable`` allows a null."""
    out = []
    for error in validator.iter_errors(value):
        if error.instance is None and any(
                isinstance(s, dict) and s.get("nullable") for s in _schemas_at(error)):
            continue
        out.append(f"{list(error.absolute_path)}: {error.message[:120]}")
    return out


def _schemas_at(error: Any) -> list[Any]:
    found = [error.schema]
    for sub in error.context or []:
        found.append(sub.schema)
    return found


def test_the_socket_guard_would_see_a_live_call(personas, sdk, pets, upstream, no_sockets):
    """The guard used above is not vacuous: the same call from a live app tries to connect."""
    live = make_app(personas.workspace, personas.owner, "Live")
    with pytest.raises(AssertionError, match="opened a connection"):
        post(sdk(live), live, "get:/pets")
    assert no_sockets


def test_the_calls_page_marks_and_filters_sandbox_calls(client, personas, sdk, pets, sandboxed,
                                                        upstream):
    live = make_app(personas.workspace, personas.owner, "Live")
    sandbox_id = post(sdk(sandboxed), sandboxed, "get:/pets")["X-Request-Id"]
    live_id = post(sdk(live), live, "get:/pets")["X-Request-Id"]
    client.force_login(personas.member)
    base = f"/w/{personas.workspace.public_id}/calls/"
    page = client.get(base).content.decode()
    assert sandbox_id in page and live_id in page
    row = page[page.index(sandbox_id):]
    row = row[: row.index("</tr>")]
    assert 'data-testid="sandbox-badge"' in row and "spec 200" in row
    live_row = page[page.index(live_id):]
    assert 'data-testid="sandbox-badge"' not in live_row[: live_row.index("</tr>")]
    only = client.get(base + "?mode=sandbox").content.decode()
    assert sandbox_id in only and live_id not in only
    only = client.get(base + "?mode=live").content.decode()
    assert live_id in only and sandbox_id not in only


def test_a_warm_sandbox_call_touches_no_credit_table_and_sends_nothing(
        personas, sdk, pets, sandboxed, no_sockets):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = sdk(sandboxed)
    post(client, sandboxed, "get:/pets/{petId}", {"path_params": {"petId": 1}})  # warm
    with CaptureQueriesContext(connection) as queries:
        r = post(client, sandboxed, "get:/pets/{petId}", {"path_params": {"petId": 2}})
    assert r.json()["sandbox"] is True
    sql = " ".join(q["sql"].lower() for q in queries.captured_queries)
    assert "creditentry" not in sql and "appcreditusage" not in sql
    assert "integrations_calllog" in sql  # the log row
    assert no_sockets == []


def test_a_pattern_asking_for_huge_strings_does_not_blow_up():
    import time

    doc = {"openapi": "3.0.3", "info": {"title": "x", "version": "1"}, "paths": {"/a": {"get": {
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
            "type": "object", "required": ["code"], "properties": {
                "code": {"type": "string", "pattern": "^a{50000000}$"}}}}}}}}}}}
    started = time.perf_counter()
    value = sandbox.generate(doc, "#/paths/~1a/get/responses/200/content/application~1json/schema",
                             seed="x")
    assert time.perf_counter() - started < 2
    assert value is sandbox._NO_ANSWER  # nothing short fits: no value rather than 50 MB


def test_a_spec_cannot_make_the_generator_run_code_or_fetch_anything():
    """jsf evaluates ``$provider`` / ``$state`` strings and fetches external ``$ref``s: a spec
    is user input, so none of it may reach jsf."""
    import builtins

    from integrations.proxy import sandbox

    evil = ("__import__('builtins').__setattr__('SANDBOX_PWNED', True) or 'x'")
    doc = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {},
           "components": {"schemas": {"X": {
        "type": "object", "required": ["a", "b", "c"],
        "properties": {
            "a": {"type": "string", "$provider": evil},
            "b": {"type": "integer", "$state": evil, "$fixed": evil},
            "c": {"$ref": "http://127.0.0.1:9/evil.json"},
        }}}}}
    sandbox.generate(doc, "#/components/schemas/X", seed="evil")  # the outside $ref: no answer
    assert not hasattr(builtins, "SANDBOX_PWNED")
    del doc["components"]["schemas"]["X"]["properties"]["c"]
    doc["components"]["schemas"]["X"]["required"] = ["a", "b"]
    value = sandbox.generate(doc, "#/components/schemas/X", seed="evil")
    assert not hasattr(builtins, "SANDBOX_PWNED")
    assert isinstance(value["a"], str) and isinstance(value["b"], int)  # generated, not run
