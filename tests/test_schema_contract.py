"""The admin API's OpenAPI schema is a contract: schemathesis checks the live server against it.

A live portal (pytest-django ``live_server``, PostgreSQL) with a seeded workspace: an owner with a
personal access token, an app, a workspace secret and an app secret. The schema is loaded from
the live server's ``/api/schema/`` and every ``/api/v1/`` operation gets a few generated requests
(positive and negative, fixed seed, no shrinking), sent with the owner's token. Any 5xx or any
failed check (undocumented status code, response not matching its schema, a schema-valid request
refused, a schema-violating request accepted...) fails the test.

Known disagreements still open are listed in ``KNOWN`` below, by operation and check, each with
the reason; nothing else is excluded.

Run: DATABASE_URL=postgres://... pytest tests/test_schema_contract.py
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from tests.factories import UserFactory, make_app, shared_workspace
from workspaces import services

pytestmark = [pytest.mark.postgres]

# (METHOD, path template) -> names of checks skipped for that operation only, with why.
# ST202 "positive_data_acceptance": a schema-valid request refused by a rule the schema
# can't state.
_REFUSES = "positive_data_acceptance"
KNOWN: dict[tuple[str, str], set[str]] = {
    # authorize_url / token_url / revocation_url must pass the egress policy (integrations.egress
    # .check_url_shape: no private, loopback or metadata addresses, no local names; the deny
    # table is the deployment's EGRESS settings): not a pattern. The rest of the request, incl.
    # "a provider type with fixed URLs, or the authorize and token URLs", is in the schema.
    ("POST", "/api/v1/workspaces/{workspace_id}/connectors/"): {_REFUSES},
    # domain must be a host name as secrets_vault.naming.normalize_domain reads it (trimmed,
    # lower-cased, a final dot dropped, 2+ labels of 1-63 characters, not an IP address, at most
    # 253 characters in all) and docs_url an address Django's URLValidator takes: grammars the
    # schema only approximates (format hostname / uri are looser). The credential by auth_type
    # (a oneOf) and the name rule are in the schema.
    ("POST", "/api/v1/workspaces/{workspace_id}/custom-apis/"): {_REFUSES},
    # doc_links items must be http(s) links Django's URLValidator takes
    # (catalog.prompt_checks.url_problem): the same kind of grammar. The required secrets'
    # name rule and the name rule are in the schema.
    ("POST", "/api/v1/workspaces/{workspace_id}/catalog/integrations/"): {_REFUSES},
    # an uploaded spec must be UTF-8 JSON/YAML text: not expressible for a binary upload
    ("POST", "/api/v1/workspaces/{workspace_id}/integrations/imports/"): {_REFUSES},
}


@pytest.fixture
def seeded(transactional_db):  # type: ignore[no-untyped-def]
    from secrets_vault import services as vault

    owner = UserFactory(email="owner@example.com")
    ws = shared_workspace(owner, "Acme")
    app = make_app(ws, owner, "Storefront")
    vault.set_secret(ws, "STRIPE_KEY", "sk_test_contract", actor=owner)
    vault.set_secret(ws, "APP_KEY", "app_contract_value", actor=owner, app=app)
    _, raw = services.create_personal_token(actor=owner, name="contract")
    return {"token": raw, "path": {"workspace_id": ws.public_id, "app_id": app.public_id,
                                   "name": "STRIPE_KEY"}}


def _served_schema() -> dict:
    """/api/schema/ as the portal serves it (the real view, through Django's test client: the
    schema is needed at collection time, before any live server runs; the first test checks the
    live server serves the same document)."""
    from django.test import Client

    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200, response.status_code
    return response.json()


SERVED = _served_schema()
schema = schemathesis.openapi.from_dict(SERVED).include(path_regex=r"^/api/v1/")


def test_live_server_serves_the_checked_schema(live_server):  # type: ignore[no-untyped-def]
    import requests

    live = requests.get(f"{live_server.url}/api/schema/?format=json", timeout=30)
    assert live.status_code == 200
    assert live.json() == SERVED


@schema.parametrize()
@settings(max_examples=3, phases=[Phase.explicit, Phase.generate], derandomize=True,
          deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_admin_api_matches_its_schema(case, seeded, live_server):  # type: ignore[no-untyped-def]
    # Real ids for the seeded objects, so operations reach their handlers, not only 404.
    for key, value in seeded["path"].items():
        if case.path_parameters and key in case.path_parameters:
            case.path_parameters[key] = value
    skipped = KNOWN.get((case.operation.method.upper(), case.operation.path), set())
    from schemathesis.checks import CHECKS

    excluded = [check for check in CHECKS.get_all() if check.__name__ in skipped]
    case.call_and_validate(base_url=live_server.url,
                           headers={"Authorization": f"Bearer {seeded['token']}"},
                           excluded_checks=excluded)


# --- the fixes schemathesis found, pinned as plain tests (fast, no live server) ----------------


def test_unknown_api_path_answers_json_404_to_a_post_without_csrf(api, personas):  # type: ignore[no-untyped-def]
    client = api(personas.owner)
    client.handler.enforce_csrf_checks = True
    response = client.post("/api/v1/catalog/reviews/null,null/decision/", {"decision": "approve"},
                           format="json")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_a_number_is_not_a_workspace_name(api, personas):  # type: ignore[no-untyped-def]
    response = api(personas.owner).post("/api/v1/workspaces/", {"name": 0}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "name" in response.json()["errors"]


def test_a_personal_token_needs_a_name_and_the_schema_says_so(api, personas):  # type: ignore[no-untyped-def]
    response = api(personas.owner).post("/api/v1/tokens/", {}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["errors"]
    body = SERVED["paths"]["/api/v1/tokens/"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert "name" in SERVED["components"]["schemas"][ref]["required"]


def test_every_admin_operation_declares_the_error_component():  # type: ignore[no-untyped-def]
    for path, ops in SERVED["paths"].items():
        if not path.startswith("/api/v1/"):
            continue
        for method, op in ops.items():
            for status in ("400", "401", "403", "404"):
                content = op["responses"][status]["content"]["application/json"]
                assert content["schema"]["$ref"] == "#/components/schemas/Error", (method, path)


def _request_schema(path: str, method: str = "post") -> dict:
    body = SERVED["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    return SERVED["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]


APPS = "/api/v1/workspaces/{workspace_id}/apps/"


def test_json_types_are_not_coerced_but_forms_still_parse(api, personas):  # type: ignore[no-untyped-def]
    from secrets_vault.models import Secret

    client = api(personas.owner)
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/apps/"
    for body in ({"name": "Shop", "allow_anonymous_integration_calls": 1},
                 {"name": "Shop", "allow_anonymous_integration_calls": "true"}):
        response = client.post(url, body, format="json")
        assert response.status_code == 400, body
        assert response.json()["errors"] == {
            "allow_anonymous_integration_calls": ["Must be a valid boolean."]}
    secrets = f"/api/v1/workspaces/{personas.workspace.public_id}/secrets/"
    response = client.post(secrets, {"name": "K", "value": "v", "description": 5}, format="json")
    assert response.json()["errors"] == {"description": ["Not a valid string."]}
    checks = client.post("/api/v1/catalog/checks/", {"prompt": "p", "doc_links": ["ok", 7]},
                         format="json")
    assert checks.json()["errors"] == {"doc_links": {"1": ["Not a valid string."]}}
    assert not personas.workspace.apps.filter(name="Shop").exists()
    assert not Secret.objects.filter(workspace=personas.workspace, name="K").exists()
    # A form body is all strings: DRF's parsing stays (the browsable API, form tests).
    response = client.post(url, {"name": "Shop", "allow_anonymous_integration_calls": "false"})
    assert response.status_code == 201 and response.json()["name"] == "Shop"
    response = client.post(url, {"name": "Cart", "allow_anonymous_integration_calls": False},
                           format="json")
    assert response.status_code == 201


def test_every_admin_serializer_is_strict():  # type: ignore[no-untyped-def]
    """The base is the mechanism: a new admin-API serializer that forgot it would coerce again."""
    import importlib
    import inspect

    from rest_framework import serializers

    from workspaces.api.strict import StrictTypesMixin

    sdk = {"AppUserTokenRequestSerializer", "AppUserTokenSerializer",
           "RevokeAppUserTokenSerializer"}  # the SDK API's wire contract, not the admin API's
    found = []
    for app in ("workspaces", "secrets_vault", "catalog", "connectors", "integrations"):
        module = importlib.import_module(f"{app}.api.serializers")
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, serializers.BaseSerializer) and cls.__module__ == module.__name__ \
                    and name not in sdk:
                found.append(name)
                assert issubclass(cls, StrictTypesMixin), f"{app}: {name}"
    assert len(found) > 50


def test_names_state_the_control_character_rule_and_the_server_applies_it_raw(api, personas):  # type: ignore[no-untyped-def]
    import re

    # (\Z: the schema's $ is ECMA's, the end of the string; Python's would allow a final "\n")
    pattern = _request_schema("/api/v1/workspaces/")["properties"]["name"]["pattern"]
    pattern = pattern.removesuffix("$") + r"\Z"
    assert re.search(pattern, "Café – 東京 🚀") and not re.search(pattern, "   ")
    for bad in ("\tAcme", "Acme\n", "Ac\u202eme", "Acme\x85"):
        assert not re.search(pattern, bad), repr(bad)
        response = api(personas.owner).post("/api/v1/workspaces/", {"name": bad}, format="json")
        assert response.status_code == 400, repr(bad)  # trimming does not hide it
        assert "invisible or control characters" in response.json()["errors"]["name"][0]
    assert "name" in _request_schema(APPS)["required"]
    for path, ops in SERVED["paths"].items():
        for op in ops.values():
            for parameter in op.get("parameters", []):
                schema = parameter["schema"]
                if parameter["in"] == "query" and schema.get("type") == "string" \
                        and "enum" not in schema:
                    # ours, or a view's own stricter one (the audit log's actor filter)
                    own = schema["pattern"].removesuffix("$") + r"\Z"
                    assert not any(re.search(own, v) for v in ("\x00", "1\x00", "user\n")), path


def test_a_duplicate_is_a_declared_409(api, personas):  # type: ignore[no-untyped-def]
    client = api(personas.owner)
    base = f"/api/v1/workspaces/{personas.workspace.public_id}"
    assert client.post(f"{base}/secrets/", {"name": "DUP", "value": "a"},
                       format="json").status_code == 201
    again = client.post(f"{base}/secrets/", {"name": "DUP", "value": "b"}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "duplicate"
    invited = client.post(f"{base}/invitations/", {"email": personas.member.email,
                                                   "role": "member"}, format="json")
    assert invited.status_code == 409 and invited.json()["code"] == "duplicate"  # a member
    for path in ("/api/v1/workspaces/{workspace_id}/secrets/",
                 "/api/v1/workspaces/{workspace_id}/invitations/",
                 "/api/v1/workspaces/{workspace_id}/custom-apis/",
                 "/api/v1/workspaces/{workspace_id}/connectors/",
                 "/api/v1/workspaces/{workspace_id}/catalog/integrations/",
                 "/api/v1/workspaces/{workspace_id}/integrations/"):
        declared = SERVED["paths"][path]["post"]["responses"]["409"]
        assert declared["content"]["application/json"]["schema"]["$ref"].endswith("/Error"), path
    assert "409" not in SERVED["paths"]["/api/v1/workspaces/"]["post"]["responses"]


def test_a_custom_api_credential_follows_its_auth_type_in_schema_and_server(api, personas):  # type: ignore[no-untyped-def]
    schema = _request_schema("/api/v1/workspaces/{workspace_id}/custom-apis/")
    assert schema["discriminator"]["propertyName"] == "auth_type"
    variants = {ref["$ref"].rsplit("/", 1)[1] for ref in schema["oneOf"]}
    assert variants == {"CustomApiKeyRequest", "CustomApiBearerRequest", "CustomApiBasicRequest"}
    components = SERVED["components"]["schemas"]
    assert set(components["CustomApiBasicRequest"]["required"]) >= {"username", "name"}
    assert "credential" not in components["CustomApiBasicRequest"]["required"]
    assert "credential" in components["CustomApiBearerRequest"]["required"]
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/custom-apis/"
    client = api(personas.owner)
    no_user = client.post(url, {"name": "Billing", "auth_type": "basic", "credential": "pw"},
                          format="json")
    assert no_user.status_code == 400
    assert no_user.json()["errors"] == {"username": ["Enter the user name for basic auth."]}
    spaces = client.post(url, {"name": "Billing", "auth_type": "bearer", "credential": "  "},
                         format="json")
    assert spaces.json()["errors"] == {"credential": ["Enter the credentials (the key or token)."]}
    made = client.post(url, {"name": "Billing", "auth_type": "basic", "username": "sk_live",
                             "credential": ""}, format="json")
    assert made.status_code == 201 and made.json()["auth_type"] == "basic"


def test_a_connector_needs_a_provider_type_or_its_urls_in_schema_and_server(api, personas):  # type: ignore[no-untyped-def]
    schema = _request_schema("/api/v1/workspaces/{workspace_id}/connectors/")
    assert [sorted(branch["required"]) for branch in schema["anyOf"]] == [
        ["provider_type"], ["authorize_url", "token_url"]]
    assert schema["anyOf"][0]["properties"]["provider_type"]["not"] == {"enum": ["zendesk"]}
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/connectors/"
    response = api(personas.owner).post(url, {"name": "Mine", "client_id": "c",
                                              "client_secret": "s"}, format="json")
    assert response.status_code == 400
    assert "provider type or give the authorize and token URLs" in response.json()["detail"]
    unknown = api(personas.owner).post(url, {"name": "Mine", "client_id": "c",
                                             "provider_type": "nope"}, format="json")
    assert unknown.json()["errors"] == {"provider_type": ["Unknown provider type 'nope'."]}
