"""Fernet encryption for the vault, strict about failures.

django-encrypted-model-fields builds its MultiFernet once, at import, and on a value it cannot
decrypt hands back the ciphertext as if it were the value. Here the key set is read from
`settings.FIELD_ENCRYPTION_KEY` (a list, newest key first) on every call (the Fernet objects are
cached per key tuple), and a value no configured key opens raises `DecryptionFailed`.

Tokens are ordinary Fernet tokens, so the library's own fields read what we write and back.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionFailed(Exception):
    """A stored value could not be decrypted with any configured key.

    The message names what failed (e.g. "workspace secret STRIPE_KEY"), never a value or a
    ciphertext. Callers must not send, show or re-save anything in its place.
    """

    def __init__(self, what: str = "A stored value") -> None:
        self.what = what
        super().__init__(
            f"{what} cannot be decrypted with the server's encryption keys "
            "(FIELD_ENCRYPTION_KEY). Restore the key it was written with, or set the value again."
        )


def configured_keys() -> tuple[str, ...]:
    raw = getattr(settings, "FIELD_ENCRYPTION_KEY", None)
    if raw is None:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must be set (a list, newest key first).")
    if isinstance(raw, str | bytes):
        raw = [raw]
    keys = tuple(k.decode() if isinstance(k, bytes) else str(k) for k in raw if k)
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY holds no key.")
    return keys


@lru_cache(maxsize=16)
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    try:
        fernets = [Fernet(k) for k in keys]
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEY holds an invalid Fernet key: {exc}")
    return MultiFernet(fernets), fernets[0]


def _multi() -> MultiFernet:
    return _fernets(configured_keys())[0]


def _primary() -> Fernet:
    return _fernets(configured_keys())[1]


def encrypt(plaintext: str) -> str:
    """A Fernet token of `plaintext`, made with the newest key."""
    return _primary().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str, what: str = "A stored value") -> str:
    try:
        return _multi().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError, TypeError):
        raise DecryptionFailed(what) from None


def is_current(token: str) -> bool:
    """True when the newest key opens the token (nothing to rotate)."""
    try:
        _primary().decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeError, ValueError, TypeError):
        return False
    return True


def rotate(token: str, what: str = "A stored value") -> str:
    """The same plaintext re-encrypted with the newest key; DecryptionFailed if no key opens it."""
    try:
        return _multi().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError, ValueError, TypeError):
        raise DecryptionFailed(what) from None


def reset_caches() -> None:
    """Forget cached key sets, ours and the library's (its CRYPTER is built at import).

    Connected to `setting_changed`, so `override_settings(FIELD_ENCRYPTION_KEY=...)` just works.
    """
    _fernets.cache_clear()
    try:
        from encrypted_model_fields import fields as library
    except ImportError:  # pragma: no cover
        return
    try:
        library.CRYPTER = library.get_crypter()
    except ImproperlyConfigured:  # an empty or broken test override: ours raises on use too
        pass
