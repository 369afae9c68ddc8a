"""GET /api/apps/{app_id}/functions/env: who may call it, what it returns, audit, wrong key."""

from __future__ import annotations

import pytest

from workspaces import services
from workspaces.models import AuditEntry

pytestmark = pytest.mark.django_db


def url(app) -> str:  # type: ignore[no-untyped-def]
    return f"/api/apps/{app.public_id}/functions/env"


def test_service_token_gets_the_environment(personas, sdk, vault_data):
    response = sdk(personas.app).get(url(personas.app))
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    c, env = vault_data.canaries, body["variables"]
    assert body["app_id"] == personas.app.public_id
    assert env["STRIPE_API_KEY"] == c["ws"]
    assert env["SHARED_NAME"] == c["app_shared"]  # the app secret overrides
    assert env["APP_ONLY_KEY"] == c["app"]
    assert env["CUSTOM_API_API_KEY_SERVICE"] == c["api_key"]
    assert env["CUSTOM_API_BEARER_SERVICE_AUTH_HEADER"] == f"Bearer {c['bearer']}"
    assert env["CUSTOM_API_BASIC_BILLING"] == f"{c['basic_user']}:{c['basic_pass']}"
    assert c["system"] not in response.content.decode()
    assert c["outsider"] not in response.content.decode()
    assert c["ws_shared"] not in response.content.decode()


def test_each_read_is_audited_per_app_without_values(personas, sdk, vault_data):
    client = sdk(personas.app)
    client.get(url(personas.app))
    client.get(url(personas.app))
    entries = AuditEntry.objects.filter(action="env.read")
    assert entries.count() == 2
    entry = entries.first()
    assert entry.workspace == personas.workspace and entry.scope == f"app:{personas.app.public_id}"
    assert entry.actor is None and entry.actor_label.startswith("service token sbs_")
    assert "STRIPE_API_KEY" in entry.changes["variables"]
    assert not any(c in str(entry.changes) for c in vault_data.all)


@pytest.mark.parametrize("caller,status", [
    ("anonymous", 401), ("app_user", 403), ("other_app_service", 404), ("revoked", 401),
])
def test_only_this_apps_service_token(personas, sdk, vault_data, caller, status):
    if caller == "anonymous":
        client = sdk(None)
    elif caller == "app_user":
        client = sdk(personas.app, "user-1")
    elif caller == "other_app_service":
        client = sdk(personas.outsider_app)
    else:
        client = sdk(personas.app)
        for token in personas.app.service_tokens.all():
            services.revoke_service_token(token, actor=personas.owner)
    response = client.get(url(personas.app))
    assert response.status_code == status
    assert "detail" in response.json()
    assert not any(c in response.content.decode() for c in vault_data.all)
    assert not AuditEntry.objects.filter(action="env.read").exists()


def test_personal_access_tokens_and_sessions_are_not_service_tokens(personas, api, client,
                                                                    vault_data):
    assert api(personas.owner).get(url(personas.app)).status_code == 401
    client.force_login(personas.owner)
    assert client.get(url(personas.app)).status_code == 401


def test_wrong_key_answers_an_error_naming_the_secret(personas, sdk, settings, fernet_key,
                                                      vault_data, caplog):
    client = sdk(personas.app)
    settings.FIELD_ENCRYPTION_KEY = [fernet_key()]
    response = client.get(url(personas.app))
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "decryption_failed"
    assert "cannot be decrypted" in body["detail"]
    assert "APP_ONLY_KEY" in body["detail"] or "SHARED_NAME" in body["detail"] or \
        "STRIPE_API_KEY" in body["detail"]
    assert "variables" not in body
    text = response.content.decode() + caplog.text
    assert not any(c in text for c in vault_data.all)
    assert "gAAAAA" not in text  # no ciphertext either
    failed = AuditEntry.objects.get(action="env.read_failed")
    assert "cannot" not in str(failed.changes) and failed.changes["failed"]


def test_schema_documents_the_endpoint(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    op = schema["paths"]["/api/apps/{app_id}/functions/env"]["get"]
    assert "Service role only" in op["description"]
    assert {"200", "401", "403", "404", "500"} <= set(op["responses"])
    for path in ("/api/v1/workspaces/{workspace_id}/secrets/",
                 "/api/v1/workspaces/{workspace_id}/apps/{app_id}/secrets/{name}/",
                 "/api/v1/workspaces/{workspace_id}/custom-apis/{custom_api_id}/"):
        assert path in schema["paths"]
    secret_schema = schema["components"]["schemas"]["Secret"]
    assert "value" not in secret_schema["properties"]  # response shape: no value
