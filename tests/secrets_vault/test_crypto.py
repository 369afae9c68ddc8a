"""The encrypted field: sealed on read, strict on failure, no plaintext in the column."""

from __future__ import annotations

import pytest
from django.core.exceptions import FieldError
from django.db import connection

from secrets_vault import crypto
from secrets_vault import services as vault
from secrets_vault.fields import MASK, Sealed
from secrets_vault.models import CustomApi, Secret
from tests.secrets_vault.conftest import new_canary

pytestmark = pytest.mark.django_db


def raw_column(model, column: str, pk: int) -> str:  # type: ignore[no-untyped-def]
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {qn(column)} FROM {qn(model._meta.db_table)} WHERE id = %s",
                       [pk])
        return cursor.fetchone()[0]


def test_the_column_holds_no_plaintext(personas):
    canary = new_canary()
    secret = vault.set_secret(personas.workspace, "RAW_CHECK", canary, actor=personas.owner)
    api = vault.create_custom_api(personas.workspace, actor=personas.owner, name="Raw",
                                  auth_type="basic", username=canary, credential=canary)
    for model, column, pk in ((Secret, "value", secret.pk), (CustomApi, "credential", api.pk)):
        stored = raw_column(model, column, pk)
        assert canary not in stored
        assert stored.startswith("gAAAAA")  # a Fernet token
    assert vault.reveal(Secret.objects.get(pk=secret.pk)) == canary


def test_reading_a_row_never_shows_the_value(personas):
    canary = new_canary()
    vault.set_secret(personas.workspace, "MASKED", canary, actor=personas.owner)
    secret = Secret.objects.get(name="MASKED")
    assert isinstance(secret.value, Sealed)
    for shown in (str(secret.value), repr(secret.value), f"{secret.value}", repr(secret),
                  str(secret)):
        assert canary not in shown
    assert str(secret.value) == MASK
    assert secret.value.reveal() == canary


def test_no_plaintext_left_on_the_instance_after_save(personas):
    canary = new_canary()
    secret = vault.set_secret(personas.workspace, "FRESH", canary, actor=personas.owner)
    assert isinstance(secret.value, Sealed)
    assert canary not in repr(vars(secret))


def test_equality_lookups_are_refused(personas):
    with pytest.raises(FieldError):
        list(Secret.objects.filter(value="x"))
    assert Secret.objects.filter(value__isnull=True).count() == 0


def test_wrong_key_raises_and_never_returns_ciphertext(personas, settings, fernet_key):
    canary = new_canary()
    secret = vault.set_secret(personas.workspace, "LOCKED", canary, actor=personas.owner)
    ciphertext = raw_column(Secret, "value", secret.pk)
    settings.FIELD_ENCRYPTION_KEY = [fernet_key()]  # only an unrelated key
    fresh = Secret.objects.get(pk=secret.pk)
    with pytest.raises(crypto.DecryptionFailed) as exc:
        vault.reveal(fresh)
    message = str(exc.value)
    assert "LOCKED" in message and canary not in message and ciphertext not in message
    with pytest.raises(crypto.DecryptionFailed):
        vault.resolve_value(personas.workspace, "LOCKED")
    with pytest.raises(crypto.DecryptionFailed):
        vault.environment_for_app(personas.app)


def test_a_value_that_fails_to_decrypt_is_not_saved_over(personas, settings, fernet_key):
    original_keys = settings.FIELD_ENCRYPTION_KEY
    secret = vault.set_secret(personas.workspace, "KEEP_ME", "v1", actor=personas.owner)
    before = raw_column(Secret, "value", secret.pk)
    settings.FIELD_ENCRYPTION_KEY = [fernet_key()]
    fresh = Secret.objects.get(pk=secret.pk)
    fresh.description = "touched"
    fresh.save()  # the sealed ciphertext goes back unchanged
    assert raw_column(Secret, "value", secret.pk) == before
    settings.FIELD_ENCRYPTION_KEY = original_keys
    assert vault.reveal(Secret.objects.get(pk=secret.pk)) == "v1"


def test_the_library_crypter_follows_key_changes(settings, fernet_key):
    """The library builds its MultiFernet at import; our setting_changed hook rebuilds it."""
    from encrypted_model_fields import fields as library

    key = fernet_key()
    settings.FIELD_ENCRYPTION_KEY = [key]
    token = library.encrypt_str("hello").decode()
    assert crypto.decrypt(token) == "hello"
    settings.FIELD_ENCRYPTION_KEY = [fernet_key(), key]
    assert library.decrypt_str(crypto.encrypt("back")) == "back"


def test_single_string_key_setting_is_accepted(settings, fernet_key):
    settings.FIELD_ENCRYPTION_KEY = fernet_key()
    assert crypto.decrypt(crypto.encrypt("x")) == "x"
