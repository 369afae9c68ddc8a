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


def test_another_app_of_the_same_workspace_gets_404(personas, sdk, vault_data):
    """A sibling app's service token can't read this app's environment (nor learn it exists)."""
    from tests.factories import make_app

    sibling = make_app(personas.workspace, personas.owner, "Sibling")
    response = sdk(sibling).get(url(personas.app))
    assert response.status_code == 404
    assert not any(c in response.content.decode() for c in vault_data.all)
    # while its own environment holds only what is in its scope
    own = sdk(sibling).get(url(sibling)).json()["variables"]
    c = vault_data.canaries
    assert own["SHARED_NAME"] == c["ws_shared"] and "APP_ONLY_KEY" not in own
    assert "CUSTOM_API_BEARER_SERVICE" not in own  # app-specific to the other app
    assert own["CUSTOM_API_API_KEY_SERVICE_AUTH_HEADER"] == c["api_key"]


def test_on_behalf_of_stays_a_service_call_but_only_for_its_own_app(personas, sdk,
                                                                     vault_data):
    """`on-behalf-of` on a service call names the app user; the caller is still the app's
    backend (service role), so it gets the environment. An app-user token of another app in
    that header is refused outright."""
    from workspaces import services as ws_services

    client = sdk(personas.app)
    jwt = ws_services.mint_app_user_token(personas.app, "user-1").token
    response = client.get(url(personas.app), HTTP_ON_BEHALF_OF=f"Bearer {jwt}")
    assert response.status_code == 200
    assert response.json()["variables"]["APP_ONLY_KEY"] == vault_data.canaries["app"]
    foreign = ws_services.mint_app_user_token(personas.outsider_app, "user-1").token
    response = client.get(url(personas.app), HTTP_ON_BEHALF_OF=f"Bearer {foreign}")
    assert response.status_code == 401
    assert not any(c in response.content.decode() for c in vault_data.all)


def test_every_custom_api_variable_for_each_auth_type(personas, sdk):
    import base64

    from secrets_vault import services as vault

    for name, auth_type, username, credential in (
            ("My Billing API", "api_key", "", "sk_123abc"),
            ("Twilio SMS", "bearer", "", "token123"),
            ("Internal Auth Service", "basic", "svc", " pass word "),
            ("Stripe Basic", "basic", "sk_live_1", "")):
        vault.create_custom_api(personas.workspace, actor=personas.admin, name=name,
                                auth_type=auth_type, username=username, credential=credential)
    env = sdk(personas.app).get(url(personas.app)).json()["variables"]
    assert env == {
        "CUSTOM_API_MY_BILLING_API": "sk_123abc",
        "CUSTOM_API_MY_BILLING_API_AUTH_HEADER": "sk_123abc",
        "CUSTOM_API_TWILIO_SMS": "token123",
        "CUSTOM_API_TWILIO_SMS_AUTH_HEADER": "Bearer token123",
        "CUSTOM_API_INTERNAL_AUTH_SERVICE": "svc: pass word ",  # a password is kept as typed
        "CUSTOM_API_INTERNAL_AUTH_SERVICE_AUTH_HEADER":
            "Basic " + base64.b64encode(b"svc: pass word ").decode(),
        "CUSTOM_API_STRIPE_BASIC": "sk_live_1:",
        "CUSTOM_API_STRIPE_BASIC_AUTH_HEADER": "Basic " + base64.b64encode(b"sk_live_1:").decode(),
    }


def test_custom_api_credential_under_a_wrong_key_is_an_error_not_ciphertext(
        personas, sdk, settings, fernet_key):
    from secrets_vault import services as vault
    from tests.secrets_vault.conftest import new_canary

    canary = new_canary()
    vault.create_custom_api(personas.workspace, actor=personas.admin, name="Locked API",
                            auth_type="bearer", credential=canary)
    client = sdk(personas.app)
    settings.FIELD_ENCRYPTION_KEY = [fernet_key()]
    response = client.get(url(personas.app))
    body = response.json()
    assert response.status_code == 500 and body["code"] == "decryption_failed"
    assert "Custom API “Locked API” (CUSTOM_API_LOCKED_API)" in body["detail"]
    assert canary not in response.content.decode() and "gAAAAA" not in response.content.decode()
