"""The real @base44/sdk@0.8.50 in node, unmodified, against the portal under gunicorn:
``integrations.custom.call`` end to end (sdk-protocol §3.1, §4, §5), with a trailing-slash
serverUrl (``//api``) as apps often configure it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from integrations import services
from integrations.models import CallLog, SpecImport, WorkspaceIntegration
from tests.e2e.conftest import Portal, run_sdk
from tests.integrations.calllog_support import wait_for_rows
from tests.integrations.egress_support import Handler, slow
from workspaces import credits
from workspaces import services as ws_services
from workspaces.models import CreditEntry

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PETSTORE = Path(__file__).resolve().parents[3] / "shared" / "specs" / "oai-petstore-3.0.yaml"
CANARY = "canary-e2e-7c1f3a9b2d"


def pets_route(h: Handler) -> None:
    body = json.dumps([{"id": 1, "name": "Rex", "seen": h.path,
                        "key": h.headers.get("X-Api-Key") == CANARY}]).encode()
    h.reply(200, body, [("Content-Type", "application/json")])


def missing_route(h: Handler) -> None:
    h.reply(404, b'{"code": 404, "message": "no such pet"}',
            [("Content-Type", "application/json")])


@pytest.fixture
def setup(personas: Any, portal: Portal, settings: Any) -> dict[str, Any]:
    """Petstore imported through the wizard's services (pasted), with a sensitive header."""
    settings.EGRESS_ALLOW_CIDRS = ["127.0.0.0/8"]
    settings.EGRESS_ALLOWED_PORTS = [80, 443, portal.upstream.port]
    portal.upstream.seen.clear()
    portal.upstream.routes.clear()
    portal.upstream.routes.update({"/v1/pets": pets_route, "/v1/pets/404": missing_route,
                                   "/v1/slow": slow(5)})
    ws = personas.workspace
    imported = services.import_pasted(ws, actor=personas.owner, text=PETSTORE.read_text())
    imported = SpecImport.objects.get(pk=imported.pk)
    if imported.status != SpecImport.Status.READY:
        imported = services.run_import(imported.pk)
    assert imported is not None and imported.status == SpecImport.Status.READY
    integration = services.create_integration(
        ws, actor=personas.owner, spec_import=imported, slug="petstore", name="Petstore",
        base_url=portal.upstream.url("/v1"),
        operation_keys=["get:/pets", "post:/pets", "get:/pets/{petId}"],
        headers=[services.HeaderInput("X-Api-Key", CANARY),
                 services.HeaderInput("X-Tenant", "acme")])
    _, service_token = ws_services.create_service_token(personas.app, actor=personas.owner,
                                                        name="e2e")
    user_token = ws_services.mint_app_user_token(personas.app, "user-1").token
    return {"integration": integration, "service": service_token, "user": user_token,
            "app": personas.app, "ws": ws, "owner": personas.owner}


def client_spec(portal: Portal, app_id: str, calls: list[dict[str, Any]], **kw: Any
                ) -> dict[str, Any]:
    return {"serverUrl": portal.url + "/", "appId": app_id, "calls": calls, **kw}


def test_calls_through_the_real_sdk(sdk_node: str, portal: Portal, setup: dict[str, Any]):
    app = setup["app"]
    results = run_sdk(sdk_node, client_spec(portal, app.public_id, token=setup["user"],
                                            serviceToken=setup["service"], calls=[
        {"as": "user", "slug": "petstore", "op": "get:/pets",
         "params": {"queryParams": {"limit": 2}}},
        {"as": "service", "slug": "petstore", "op": "GET:/pets/{petId}",
         "params": {"pathParams": {"petId": "404"}}},
        {"as": "user", "slug": "petstore", "op": "post:/pets",
         "params": {"payload": {"id": 9, "name": "Tom"}}},
    ]), timeout=60)
    listed, missing, created = results
    assert listed["ok"], listed
    assert listed["value"] == {"success": True, "status_code": 200, "data": [
        {"id": 1, "name": "Rex", "seen": "/v1/pets?limit=2", "key": True}]}
    # an upstream 404 is an answer: the call resolves with success false
    assert missing == {"ok": True, "value": {"success": False, "status_code": 404,
                                             "data": {"code": 404, "message": "no such pet"}}}
    assert created["ok"] and created["value"]["success"] is True
    seen = portal.upstream.seen
    assert [s.method for s in seen] == ["GET", "GET", "POST"]
    assert json.loads(seen[2].body) == {"id": 9, "name": "Tom"}
    assert all(s.headers["x-api-key"] == CANARY and s.headers["x-tenant"] == "acme"
               for s in seen)
    assert not any("sbs_" in v or "Bearer" in v for s in seen for v in s.headers.values())
    rows = list(wait_for_rows(CallLog.objects.order_by("id"), 3))  # written after the answers
    assert [(r.caller_kind, r.status_code, r.credits) for r in rows] == [
        ("app_user", 200, 1), ("service", 404, 1), ("app_user", 200, 1)]
    assert WorkspaceIntegration.objects.get(slug="petstore").last_used_at is not None
    # the sensitive header's value reached the upstream, and nothing else: not the answers,
    # the call log rows or the portal's own log
    assert CANARY not in json.dumps(results)
    assert not any(CANARY in str(row) for row in CallLog.objects.values())
    assert CANARY not in portal.log.read_text()


def test_errors_reach_the_app_as_base44_errors(sdk_node: str, portal: Portal,
                                               setup: dict[str, Any]):
    app = setup["app"]
    results = run_sdk(sdk_node, client_spec(portal, app.public_id, token=setup["user"], calls=[
        {"slug": "nope", "op": "get:/pets"},
        {"slug": "petstore", "op": "delete:/pets"},
        {"slug": "petstore", "op": "get:/pets?limit=1"},
        {"slug": "petstore", "op": "post:/pets", "params": {"payload": {"name": 5}}},
        {"slug": "petstore", "op": "get:/pets/{petId}", "params": {"pathParams": {"petId": ".."}}},
    ]))
    errors = [r["error"] for r in results]
    assert [e["status"] for e in errors] == [404, 404, 404, 400, 400]
    assert errors[0]["message"] == "Custom integration 'nope' not found in workspace"
    assert errors[1]["message"] == "Operation 'delete:/pets' not found in integration 'petstore'"
    assert errors[2]["message"] == ("Operation 'get:/pets?limit=1' not found in integration "
                                    "'petstore'")
    assert errors[3]["code"] == "invalid_params" and "name" in errors[3]["message"]
    assert "id" in errors[3]["message"]  # required by the Pet schema
    assert errors[4]["code"] == "invalid_params"
    assert portal.upstream.seen == []
    # invalid token -> 401; anonymous while the app does not allow it -> 401
    bad = run_sdk(sdk_node, client_spec(portal, app.public_id, token="a.b.c",
                                        calls=[{"slug": "petstore", "op": "get:/pets"}]))
    anon = run_sdk(sdk_node, client_spec(portal, app.public_id,
                                         calls=[{"slug": "petstore", "op": "get:/pets"}]))
    assert bad[0]["error"]["status"] == 401 and anon[0]["error"]["status"] == 401
    # a portal user's personal access token is a valid credential of the wrong kind: 403
    _, personal = ws_services.create_personal_token(actor=setup["owner"], name="cli")
    wrong = run_sdk(sdk_node, client_spec(portal, app.public_id, token=personal,
                                          calls=[{"slug": "petstore", "op": "get:/pets"}]))
    assert wrong[0]["error"]["status"] == 403
    assert wrong[0]["error"]["code"] == "permission_denied"
    assert wrong[0]["error"]["message"].startswith("A personal access token can't call")
    app.allow_anonymous_integration_calls = True
    app.save(update_fields=["allow_anonymous_integration_calls"])
    anon = run_sdk(sdk_node, client_spec(portal, app.public_id,
                                         calls=[{"slug": "petstore", "op": "get:/pets"}]))
    assert anon[0]["ok"] and anon[0]["value"]["success"] is True
    assert credits.balance(setup["ws"]) == 2000 - 1  # only the call that reached upstream


def test_502_504_and_402(sdk_node: str, portal: Portal, setup: dict[str, Any]):
    app, ws, integration = setup["app"], setup["ws"], setup["integration"]
    owner = setup["owner"]
    # a move to another server needs the key typed again (it is bound to its origin)
    keys = [services.HeaderInput("X-Api-Key", CANARY), services.HeaderInput("X-Tenant", "acme")]
    services.update_integration(integration, actor=owner, base_url="http://127.0.0.1:80",
                                headers=keys)
    refused = run_sdk(sdk_node, client_spec(portal, app.public_id, token=setup["user"],
                                            calls=[{"slug": "petstore", "op": "get:/pets"}]))
    assert refused[0]["error"]["status"] == 502
    assert refused[0]["error"]["message"] == "Failed to connect to external API: Connection refused"
    assert credits.balance(ws) == 2000  # nothing was sent: nothing billed
    # an edit is seen by every gunicorn worker on the next call (config_version)
    services.update_integration(integration, actor=owner, base_url=portal.upstream.url(""),
                                operation_keys=["get:/pets"], headers=keys)
    credits.adjust(ws, -credits.balance(ws) + 1, reason="test", idempotency_key="e2e-one-left")
    portal.upstream.routes["/pets"] = slow(5)  # the portal's proxy deadline is 1.5 s
    timed_out = run_sdk(sdk_node, client_spec(portal, app.public_id, token=setup["user"], calls=[
        {"slug": "petstore", "op": "get:/pets"},
        {"slug": "petstore", "op": "get:/pets"},
    ]))
    first, second = (r["error"] for r in timed_out)
    assert first["status"] == 504 and first["code"] == "upstream_timeout"
    assert first["data"]["phase"] == "timed_out"
    assert second["status"] == 402  # the timed-out call was billed: no credits left
    assert second["code"] == "integration_credits_limit_reached"
    assert second["message"] == "You have reached the limit of integrations for this month"
    assert second["data"]["extra_data"] == {"reason": "integration_credits_limit_reached"}


def test_credits_are_exact_across_gunicorn_processes(sdk_node: str, portal: Portal,
                                                    setup: dict[str, Any]):
    """24 parallel calls against 10 credits, served by 3 gunicorn worker processes."""
    app, ws = setup["app"], setup["ws"]
    credits.adjust(ws, 10 - credits.balance(ws), reason="test", idempotency_key="e2e-ten")
    calls = [{"slug": "petstore", "op": "get:/pets"} for _ in range(24)]
    results = run_sdk(sdk_node, client_spec(portal, app.public_id, token=setup["user"],
                                            calls=calls, parallel=True), timeout=120)
    ok = [r for r in results if r["ok"]]
    refused = [r["error"] for r in results if not r["ok"]]
    assert len(ok) == 10, portal.tail()
    assert len(refused) == 14 and {e["status"] for e in refused} == {402}
    assert credits.balance(ws) == 0
    assert len(portal.upstream.seen) == 10
    assert CreditEntry.objects.filter(workspace=ws, kind="usage").count() == 10
    logged = wait_for_rows(CallLog.objects.filter(workspace=ws), 24)
    assert logged.count() == 24 and sum(r.credits for r in logged) == 10
    assert logged.filter(response_status=402).count() == 14
