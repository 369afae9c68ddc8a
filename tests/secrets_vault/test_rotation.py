"""`rotate_encryption_keys`: the whole cycle, re-runs, interruption, undecryptable values."""

from __future__ import annotations

from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command

from secrets_vault import crypto
from secrets_vault import services as vault
from secrets_vault.management.commands import rotate_encryption_keys as command
from secrets_vault.models import CustomApi, Secret
from tests.secrets_vault.test_crypto import raw_column

pytestmark = pytest.mark.django_db


def rotate(*args: str) -> str:
    out = StringIO()
    call_command("rotate_encryption_keys", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def all_tokens() -> list[str]:
    return ([raw_column(Secret, "value", pk) for pk in Secret.objects.values_list("pk", flat=True)]
            + [raw_column(CustomApi, "credential", pk)
               for pk in CustomApi.objects.values_list("pk", flat=True)])


def test_discovers_every_encrypted_column():
    labels = {f"{m._meta.label}.{f.name}" for m, f in command.encrypted_columns()}
    assert {"secrets_vault.Secret.value", "secrets_vault.CustomApi.credential"} <= labels


def test_the_whole_cycle(personas, settings, fernet_key, vault_data):
    key_a, key_b = fernet_key(), fernet_key()
    settings.FIELD_ENCRYPTION_KEY = [key_a]
    # Everything written under key A (re-set each value so the fixture's key doesn't matter).
    for label, secret in vault_data.secrets.items():
        vault.set_secret(secret.workspace, secret.name, vault_data.canaries[label],
                         app=secret.app, actor=personas.owner, kind=secret.kind)
    for label in ("api_key", "bearer"):
        api = vault_data.apis[label]
        api.credential = vault_data.canaries[label]
        api.save()
    basic = vault_data.apis["basic"]
    basic.credential = f"{vault_data.canaries['basic_user']}:{vault_data.canaries['basic_pass']}"
    basic.save()
    env_before = vault.environment_for_app(personas.app)
    n = len(all_tokens())

    settings.FIELD_ENCRYPTION_KEY = [key_b, key_a]  # new key first, old one still there
    assert vault.environment_for_app(personas.app) == env_before
    out = rotate("--batch-size", "2")
    assert f"Done: {n} value(s) re-encrypted" in out
    assert "secrets_vault.Secret.value:" in out and "0 undecryptable" in out
    assert all(crypto.is_current(t) for t in all_tokens())

    again = rotate()  # safe to run again: nothing left to do
    assert "Done: 0 value(s) re-encrypted" in again

    settings.FIELD_ENCRYPTION_KEY = [key_b]  # the old key dropped
    assert vault.environment_for_app(personas.app) == env_before
    assert vault.resolve_value(personas.workspace, "__integration_header_1") == \
        vault_data.canaries["system"]
    for token in all_tokens():
        assert not any(c in token for c in vault_data.all)


def test_dry_run_writes_nothing(personas, settings, fernet_key):
    key_a, key_b = fernet_key(), fernet_key()
    settings.FIELD_ENCRYPTION_KEY = [key_a]
    vault.set_secret(personas.workspace, "DRY", "v", actor=personas.owner)
    before = all_tokens()
    settings.FIELD_ENCRYPTION_KEY = [key_b, key_a]
    assert "Done: 1 value(s) to re-encrypt" in rotate("--dry-run")
    assert all_tokens() == before


def test_interrupted_run_can_be_run_again(personas, settings, fernet_key):
    key_a, key_b = fernet_key(), fernet_key()
    settings.FIELD_ENCRYPTION_KEY = [key_a]
    for i in range(5):
        vault.set_secret(personas.workspace, f"S{i}", f"value {i}", actor=personas.owner)
    settings.FIELD_ENCRYPTION_KEY = [key_b, key_a]
    real_rotate, calls = crypto.rotate, []

    def dies_on_the_fourth(token: str, what: str = "") -> str:
        calls.append(token)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real_rotate(token)

    with mock.patch.object(crypto, "rotate", dies_on_the_fourth), \
            pytest.raises(KeyboardInterrupt):
        rotate("--batch-size", "2")
    # The first batch (2 rows) committed; the second was rolled back as a whole.
    assert sum(crypto.is_current(t) for t in all_tokens()) == 2
    out = rotate("--batch-size", "2")
    assert "Done: 3 value(s) re-encrypted" in out
    settings.FIELD_ENCRYPTION_KEY = [key_b]
    assert [vault.resolve_value(personas.workspace, f"S{i}") for i in range(5)] == \
        [f"value {i}" for i in range(5)]


def test_undecryptable_values_are_reported_and_left_alone(personas, settings, fernet_key):
    key_a, key_b, lost = fernet_key(), fernet_key(), fernet_key()
    settings.FIELD_ENCRYPTION_KEY = [lost]
    orphan = vault.set_secret(personas.workspace, "ORPHAN", "gone", actor=personas.owner)
    orphan_token = raw_column(Secret, "value", orphan.pk)
    settings.FIELD_ENCRYPTION_KEY = [key_a]
    vault.set_secret(personas.workspace, "FINE", "fine", actor=personas.owner)
    settings.FIELD_ENCRYPTION_KEY = [key_b, key_a]
    err = StringIO()
    with pytest.raises(CommandError, match="1 value"):
        call_command("rotate_encryption_keys", stdout=StringIO(), stderr=err)
    assert f"pk={orphan.pk}" in err.getvalue() and "gone" not in err.getvalue()
    assert raw_column(Secret, "value", orphan.pk) == orphan_token
    settings.FIELD_ENCRYPTION_KEY = [key_b]
    assert vault.resolve_value(personas.workspace, "FINE") == "fine"


# --- every encrypted column of every app ------------------------------------------------------


def _populate_every_encrypted_column(p, canaries: dict[str, str]) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """One row (or more) in every encrypted column the project has, written through the
    features that own them: vault secrets and Custom APIs, an integration's sensitive header
    (a system secret), a catalog-installed app secret, connector client secret, tokens and a
    PKCE verifier. Returns what to read back afterwards."""
    from datetime import timedelta

    from django.utils import timezone

    from catalog import vault as catalog_vault
    from connectors.models import Connection, OAuthState, WorkspaceConnector
    from integrations.services import HeaderInput, integration_headers
    from tests.integrations.wizard_support import make_integration

    def c(label: str) -> str:
        canaries[label] = f"CANARY-{label}-{len(canaries)}-" + "x" * 8
        return canaries[label]

    vault.set_secret(p.workspace, "WS_KEY", c("ws"), actor=p.owner)
    vault.set_secret(p.workspace, "APP_KEY", c("app"), actor=p.owner, app=p.app)
    vault.create_custom_api(p.workspace, actor=p.owner, name="Billing", auth_type="basic",
                            username="svc", credential=c("custom_api"))
    integration = make_integration(p.workspace, p.admin, headers=[
        HeaderInput("Authorization", c("integration_header")), HeaderInput("X-Tenant", "acme")])
    catalog_vault.store_app_secret(p.app, "CATALOG_KEY", c("catalog"), actor=p.owner)
    connector = WorkspaceConnector.objects.create(
        workspace=p.workspace, name="Ours", client_id="cid", client_secret=c("client_secret"),
        authorize_url="https://auth.example.com/a", token_url="https://auth.example.com/t")
    connection = Connection.objects.create(
        kind="workspace", app=p.app, connector=connector, access_token=c("access_token"),
        refresh_token=c("refresh_token"), expires_at=timezone.now() + timedelta(hours=1))
    state = OAuthState.objects.create(
        digest="d" * 64, kind="workspace", app=p.app, connector=connector,
        code_verifier=c("code_verifier"), redirect_uri="https://portal.example.com/cb",
        expires_at=timezone.now() + timedelta(minutes=10))

    def read_back() -> dict[str, str]:
        conn = Connection.objects.get(pk=connection.pk)
        env = vault.environment_for_app(p.app)
        return {
            "ws": env["WS_KEY"], "app": env["APP_KEY"],
            "custom_api": env["CUSTOM_API_BILLING"].removeprefix("svc:"),
            "integration_header": integration_headers(integration)["Authorization"],
            "catalog": vault.resolve_value(p.workspace, "CATALOG_KEY", p.app) or "",
            "client_secret": WorkspaceConnector.objects.get(pk=connector.pk)
            .client_secret.reveal(),
            "access_token": conn.access_token.reveal(),
            "refresh_token": conn.refresh_token.reveal(),
            "code_verifier": OAuthState.objects.get(pk=state.pk).code_verifier.reveal(),
        }

    return {"read_back": read_back}


def _column_tokens() -> dict[str, list[str]]:
    """Column label -> the raw stored values (SQL, not the ORM) of every encrypted column."""
    from django.db import connection

    qn = connection.ops.quote_name
    out: dict[str, list[str]] = {}
    for model, f in command.encrypted_columns():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {qn(f.column)} FROM {qn(model._meta.db_table)} "  # noqa: S608
                           f"WHERE {qn(f.column)} IS NOT NULL")
            out[f"{model._meta.label}.{f.name}"] = [row[0] for row in cursor.fetchall()]
    return out


def test_the_whole_cycle_across_every_app(personas, settings, fernet_key):
    """rotate (new key first) -> drop the old key -> every feature still reads its values.
    Guards itself: every encrypted column the project has must hold data here, so a column
    added later without being exercised fails this test until it is added above."""
    key_a, key_b = fernet_key(), fernet_key()
    settings.FIELD_ENCRYPTION_KEY = [key_a]
    canaries: dict[str, str] = {}
    made = _populate_every_encrypted_column(personas, canaries)
    expected = made["read_back"]()  # type: ignore[operator]
    assert expected == canaries

    before = _column_tokens()
    empty = [label for label, tokens in before.items() if not tokens]
    assert not empty, f"extend _populate_every_encrypted_column to cover {empty}"
    assert {"secrets_vault.Secret.value", "secrets_vault.CustomApi.credential",
            "connectors.WorkspaceConnector.client_secret", "connectors.Connection.access_token",
            "connectors.Connection.refresh_token", "connectors.OAuthState.code_verifier"
            } <= set(before)
    total = sum(len(tokens) for tokens in before.values())

    settings.FIELD_ENCRYPTION_KEY = [key_b, key_a]
    out = rotate("--batch-size", "3")
    assert f"Done: {total} value(s) re-encrypted in {len(before)} column(s); 0 undecryptable." \
        in out
    for label, tokens in before.items():
        assert f"{label}: {len(tokens)} scanned, {len(tokens)} re-encrypted, 0 already current" \
            in out

    settings.FIELD_ENCRYPTION_KEY = [key_b]  # the old key is gone
    after = _column_tokens()
    for label, tokens in after.items():
        assert tokens and all(crypto.is_current(t) for t in tokens), label
        assert not any(c in t for t in tokens for c in canaries.values()), label
    assert made["read_back"]() == canaries  # type: ignore[operator]

    # and without rotating, dropping the old key would have broken them (the test can fail)
    settings.FIELD_ENCRYPTION_KEY = [key_a]
    with pytest.raises(crypto.DecryptionFailed):
        made["read_back"]()  # type: ignore[operator]
