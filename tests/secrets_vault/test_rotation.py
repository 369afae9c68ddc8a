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
