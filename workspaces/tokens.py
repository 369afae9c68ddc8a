"""Token minting and checking for the three kinds of API callers.

Personal access tokens (`sbp_...`) and app service tokens (`sbs_...`) are shown once and kept as
a lookup prefix plus an HMAC-SHA256 digest. App-user tokens are HS256 JWTs signed with a key
derived per app (SECRET_KEY + the app's salt), carrying a `jti` that can be revoked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import jwt
from django.conf import settings
from django.utils import timezone

from .models import App, AppServiceToken, AppUser, PersonalAccessToken, RevokedAppUserToken

T = TypeVar("T", PersonalAccessToken, AppServiceToken)
LAST_USED_RESOLUTION = timedelta(seconds=60)
JWT_ISSUER = "switchboard"


def _digest(raw: str) -> str:
    key = hashlib.sha256(("token-digest:" + settings.SECRET_KEY).encode()).digest()
    return hmac.new(key, raw.encode(), hashlib.sha256).hexdigest()


def new_raw_token(token_type: str) -> tuple[str, str]:
    prefix = secrets.token_hex(6)
    return f"{token_type}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def split_raw_token(raw: str) -> tuple[str, str] | None:
    parts = raw.split("_", 2)
    if len(parts) != 3 or not parts[1] or not parts[2]:
        return None
    return parts[0], parts[1]


def issue(model: type[T], **fields: object) -> tuple[T, str]:
    """Create a token row; returns (row, raw token). The raw token is never stored."""
    raw, prefix = new_raw_token(model.TOKEN_TYPE)
    row = model.objects.create(prefix=prefix, digest=_digest(raw), **fields)
    return row, raw


def verify(model: type[T], raw: str, select_related: tuple[str, ...] = ()) -> T | None:
    split = split_raw_token(raw)
    if split is None or split[0] != model.TOKEN_TYPE:
        return None
    row = model.objects.select_related(*select_related).filter(prefix=split[1]).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.digest, _digest(raw)):
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        model.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now
    return row


# --- app-user JWTs ---------------------------------------------------------------------------


def _app_key(app: App) -> bytes:
    return hmac.new(settings.SECRET_KEY.encode(), f"app-user-jwt:{app.jwt_salt}".encode(),
                    hashlib.sha256).digest()


@dataclass(frozen=True)
class MintedToken:
    token: str
    jti: str
    expires_at: object


def mint_app_user_token(app_user: AppUser, ttl_seconds: int | None = None) -> MintedToken:
    now = timezone.now()
    ttl = ttl_seconds if ttl_seconds is not None else settings.APP_USER_TOKEN_TTL_SECONDS
    expires = now + timedelta(seconds=ttl)
    jti = uuid.uuid4().hex
    claims = {
        "iss": JWT_ISSUER,
        "aud": app_user.app.public_id,
        "sub": app_user.external_id,
        "jti": jti,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    token = jwt.encode(claims, _app_key(app_user.app), algorithm="HS256")
    return MintedToken(token=token, jti=jti, expires_at=expires)


class InvalidAppUserToken(Exception):
    pass


def looks_like_jwt(raw: str) -> bool:
    return raw.count(".") == 2 and not raw.startswith(("sbp_", "sbs_"))


def decode_app_user_token(raw: str) -> tuple[App, AppUser, dict]:
    """Verify signature, expiry, app and revocation; returns (app, app_user, claims)."""
    try:
        unverified = jwt.decode(raw, options={"verify_signature": False})
        app_id = unverified.get("aud")
        if not isinstance(app_id, str):
            raise InvalidAppUserToken("Token names no app.")
        app = App.objects.select_related("workspace").get(public_id=app_id)
        claims = jwt.decode(raw, _app_key(app), algorithms=["HS256"], audience=app_id,
                            issuer=JWT_ISSUER, options={"require": ["exp", "jti", "sub"]})
    except App.DoesNotExist:
        raise InvalidAppUserToken("Token names an unknown app.")
    except jwt.ExpiredSignatureError:
        raise InvalidAppUserToken("The app-user token has expired.")
    except jwt.PyJWTError:
        raise InvalidAppUserToken("The app-user token is not valid.")
    if RevokedAppUserToken.objects.filter(jti=claims["jti"]).exists():
        raise InvalidAppUserToken("The app-user token has been revoked.")
    app_user = AppUser.objects.filter(app=app, external_id=claims["sub"]).first()
    if app_user is None:
        raise InvalidAppUserToken("The app user no longer exists.")
    return app, app_user, claims
