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


def test_under_a_wrong_key_pages_still_work_and_edits_keep_the_ciphertext(
        personas, client, api, settings, fernet_key, vault_data):
    """Listing and editing never decrypt: with the key gone, the pages and the admin API still
    answer (metadata only, no ciphertext), and a Custom API edit or a description change keeps
    the stored ciphertext byte for byte, so restoring the key brings every value back."""
    original_keys = settings.FIELD_ENCRYPTION_KEY
    api_obj = vault_data.apis["bearer"]
    before = {"secret": raw_column(Secret, "value", vault_data.secrets["ws"].pk),
              "api": raw_column(CustomApi, "credential", api_obj.pk)}
    settings.FIELD_ENCRYPTION_KEY = [fernet_key()]
    ws = personas.workspace.public_id
    client.force_login(personas.owner)
    for url in (f"/w/{ws}/secrets/", f"/w/{ws}/secrets/STRIPE_API_KEY/",
                f"/w/{ws}/secrets/apps/{personas.app.public_id}/", f"/w/{ws}/custom-apis/",
                f"/w/{ws}/custom-apis/{api_obj.public_id}/"):
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, url
        assert "gAAAAA" not in html and not any(c in html for c in vault_data.all)
    listed = api(personas.member).get(f"/api/v1/workspaces/{ws}/custom-apis/")
    assert listed.status_code == 200 and "gAAAAA" not in listed.content.decode()

    vault.update_custom_api(CustomApi.objects.get(pk=api_obj.pk), actor=personas.owner,
                            name="Renamed Bearer", domain="api.other.example")
    assert client.post(f"/w/{ws}/custom-apis/{api_obj.public_id}/", {
        "name": "Renamed Again", "domain": "", "docs_url": "", "scope": "organization",
    }).status_code == 302
    fresh = Secret.objects.get(pk=vault_data.secrets["ws"].pk)
    fresh.description = "edited while the key is missing"
    fresh.save()
    assert raw_column(Secret, "value", fresh.pk) == before["secret"]
    assert raw_column(CustomApi, "credential", api_obj.pk) == before["api"]
    with pytest.raises(crypto.DecryptionFailed):
        vault.reveal(CustomApi.objects.get(pk=api_obj.pk))

    settings.FIELD_ENCRYPTION_KEY = original_keys
    env = vault.environment_for_app(personas.app)
    assert env["CUSTOM_API_RENAMED_AGAIN"] == vault_data.canaries["bearer"]
    assert env["STRIPE_API_KEY"] == vault_data.canaries["ws"]


def test_library_fields_never_pass_ciphertext_through(personas, settings, fernet_key):
    """The trap itself, shown on the library's own field: under a wrong key its to_python hands
    back the ciphertext as if it were the value. VaultField (what every encrypted column here
    uses) raises instead."""
    from encrypted_model_fields.fields import EncryptedTextField

    from secrets_vault.fields import VaultField
    from secrets_vault.management.commands.rotate_encryption_keys import encrypted_columns

    token = crypto.encrypt("plain")
    settings.FIELD_ENCRYPTION_KEY = [fernet_key()]
    assert EncryptedTextField().to_python(token) == token  # the library: silent passthrough
    sealed = VaultField().from_db_value(token, None, connection)
    with pytest.raises(crypto.DecryptionFailed):
        sealed.reveal()
    # and no column in the project uses a library field directly
    assert all(isinstance(f, VaultField) for _, f in encrypted_columns())
