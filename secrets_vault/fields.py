"""`VaultField`: an encrypted text column that reads back as a `Sealed` value.

Built on django-encrypted-model-fields' `EncryptedTextField` (same Fernet token format, same
`FIELD_ENCRYPTION_KEY`), but strict:

- Reading a row never decrypts. The attribute is a `Sealed` holding the ciphertext; `str()` and
  `repr()` of it are a mask, so templates, the admin, serializers and log lines can't show it.
- `Sealed.reveal()` decrypts, or raises `DecryptionFailed` (the library would silently return
  the ciphertext as if it were the value).
- Saving a `Sealed` writes its ciphertext back unchanged, so a value that can't be decrypted is
  never "saved over" with a re-encrypted copy of its own ciphertext.
- Assigning a plain `str` means "this is the new plaintext": it is encrypted with the newest
  key on save and the attribute becomes a `Sealed`.
- Only `isnull` lookups are allowed (an equality filter would put plaintext into SQL and could
  never match a randomised Fernet token), and the field has no form field (ModelForms and the
  admin leave it out).

`rotate_encryption_keys` finds every column of this kind (and of the library's fields) by
walking the models, so later apps' encrypted fields are rotated without being registered.
"""

from __future__ import annotations

import hmac
from typing import Any

from encrypted_model_fields.fields import EncryptedTextField

from . import crypto

MASK = "••••••••"


class Sealed:
    """An encrypted value as stored. Only `reveal()` yields the plaintext."""

    __slots__ = ("_token",)

    def __init__(self, token: str) -> None:
        self._token = token

    @property
    def token(self) -> str:
        """The ciphertext (safe to store and compare; still never shown to anyone)."""
        return self._token

    def reveal(self, what: str = "A stored value") -> str:
        return crypto.decrypt(self._token, what)

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return "<Sealed value>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sealed) and hmac.compare_digest(self._token, other._token)

    def __hash__(self) -> int:
        return hash(self._token)


class VaultField(EncryptedTextField):
    description = "Text encrypted at rest (Fernet); read back as a Sealed value"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Sealed | None:
        if value is None:
            return None
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        return Sealed(value)

    def to_python(self, value: Any) -> Any:
        if value is None or isinstance(value, Sealed):
            return value
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        return str(value)  # a new plaintext, sealed on save

    def pre_save(self, model_instance: Any, add: bool) -> Any:
        value = getattr(model_instance, self.attname)
        if value is not None and not isinstance(value, Sealed):
            value = Sealed(crypto.encrypt(str(value)))
            setattr(model_instance, self.attname, value)  # no plaintext left on the instance
        return value

    def get_db_prep_save(self, value: Any, connection: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, Sealed):
            return value.token
        return crypto.encrypt(str(value))

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name != "isnull":
            return None
        return super().get_lookup(lookup_name)

    def get_transform(self, name: str) -> Any:
        return None

    def formfield(self, **kwargs: Any) -> None:  # type: ignore[override]
        return None

    def value_to_string(self, obj: Any) -> str | None:
        """Serialised as ciphertext (dumpdata); never as plaintext."""
        value = self.value_from_object(obj)
        if value is None:
            return None
        return value.token if isinstance(value, Sealed) else crypto.encrypt(str(value))
