"""Admin API: write-only values, errors, scopes, history."""

from __future__ import annotations

import pytest

from secrets_vault import services as vault
from tests.secrets_vault.conftest import new_canary

pytestmark = pytest.mark.django_db


def base(p) -> str:  # type: ignore[no-untyped-def]
    return f"/api/v1/workspaces/{p.workspace.public_id}"


def test_create_returns_metadata_never_the_value(api, personas):
    canary = new_canary()
    response = api(personas.admin).post(f"{base(personas)}/secrets/",
                                        {"name": "NEW_KEY", "value": canary,
                                         "description": "d"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert canary not in response.content.decode() and "value" not in body
    assert body["name"] == "NEW_KEY" and body["version"] == 1
    assert body["set_by"] == personas.admin.email and body["scope"] == "workspace"


def test_validation_errors_do_not_echo_the_value(api, personas):
    canary = new_canary()
    client = api(personas.admin)
    response = client.post(f"{base(personas)}/secrets/", {"name": "lower", "value": canary},
                           format="json")
    assert response.status_code == 400 and "name" in response.json()["errors"]
    assert canary not in response.content.decode()
    vault.set_secret(personas.workspace, "TAKEN", "x", actor=personas.owner)
    response = client.post(f"{base(personas)}/secrets/", {"name": "TAKEN", "value": canary},
                           format="json")
    assert response.status_code == 409 and response.json()["code"] == "duplicate"  # a conflict
    assert canary not in response.content.decode()
    response = client.put(f"{base(personas)}/secrets/TAKEN/", {"value": ""}, format="json")
    assert response.status_code == 400


def test_put_replaces_and_detail_shows_history(api, personas):
    client = api(personas.admin)
    client.put(f"{base(personas)}/secrets/ROT/", {"value": "a", "description": "x"},
               format="json")
    response = client.put(f"{base(personas)}/secrets/ROT/", {"value": "b"}, format="json")
    assert response.status_code == 200 and response.json()["version"] == 2
    detail = api(personas.member).get(f"{base(personas)}/secrets/ROT/").json()
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert detail["description"] == "x"
    assert vault.resolve_value(personas.workspace, "ROT") == "b"


def test_app_secrets_endpoint(api, personas):
    url = f"{base(personas)}/apps/{personas.app.public_id}/secrets/"
    response = api(personas.owner).post(url, {"name": "APP_KEY", "value": "v"}, format="json")
    assert response.json()["app"] == personas.app.public_id
    assert response.json()["scope"] == f"app:{personas.app.public_id}"
    assert [s["name"] for s in api(personas.member).get(url).json()] == ["APP_KEY"]
    assert api(personas.member).get(f"{base(personas)}/secrets/").json() == []


def test_custom_api_create_and_read(api, personas):
    canary = new_canary()
    response = api(personas.admin).post(f"{base(personas)}/custom-apis/", {
        "name": "Internal Billing API", "auth_type": "basic", "username": "svc",
        "credential": canary, "domain": "billing.internal.example", "scope": "app",
        "app": personas.app.public_id}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert canary not in response.content.decode()
    assert "credential" not in body and "username" not in body
    assert body["env_var"] == "CUSTOM_API_INTERNAL_BILLING_API"
    assert body["auth_header_var"] == "CUSTOM_API_INTERNAL_BILLING_API_AUTH_HEADER"
    assert body["scope"] == "app" and body["app"] == personas.app.public_id
    listed = api(personas.member).get(f"{base(personas)}/custom-apis/")
    assert canary not in listed.content.decode() and len(listed.json()) == 1


def test_custom_api_errors(api, personas):
    client = api(personas.admin)
    url = f"{base(personas)}/custom-apis/"
    assert client.post(url, {"name": "X", "auth_type": "bearer"}, format="json").json()[
        "errors"] == {"credential": ["Enter the credentials (the key or token)."]}
    assert "domain" in client.post(url, {"name": "X", "auth_type": "bearer", "credential": "c",
                                         "domain": "http://x.example"},
                                   format="json").json()["errors"]
    assert client.post(url, {"name": "X", "auth_type": "bearer", "credential": "c",
                             "scope": "app"}, format="json").status_code == 400
    client.post(url, {"name": "Dup", "auth_type": "bearer", "credential": "c"}, format="json")
    dup = client.post(url, {"name": "DUP", "auth_type": "bearer", "credential": "c"},
                      format="json")
    assert dup.status_code == 409 and "“Dup”" in dup.json()["detail"]  # the variable is taken


def test_custom_api_patch_cannot_change_credentials(api, personas, vault_data):
    api_obj = vault_data.apis["api_key"]
    url = f"{base(personas)}/custom-apis/{api_obj.public_id}/"
    client = api(personas.admin)
    response = client.patch(url, {"credential": "new"}, format="json")
    assert response.status_code == 400 and "Delete the Custom API" in response.json()["detail"]
    response = client.patch(url, {"name": "Renamed", "scope": "app",
                                  "app": personas.app.public_id}, format="json")
    assert response.status_code == 200
    assert response.json()["env_var"] == "CUSTOM_API_RENAMED"
    assert response.json()["app"] == personas.app.public_id
    response = client.patch(url, {"scope": "organization"}, format="json")
    assert response.json()["scope"] == "organization" and response.json()["app"] is None
    env = vault.environment_for_app(personas.app)
    assert env["CUSTOM_API_RENAMED"] == vault_data.canaries["api_key"]
