"""Token minting and checking for the three kinds of API callers.

Personal access tokens (`sbp_...`) and app service tokens (`sbs_...`) are shown once and kept as
a lookup prefix plus an HMAC-SHA256 digest. App-user tokens are HS256 JWTs signed with a key
derived per app (SECRET_KEY + the app's salt), carrying a `jti` that can be revoked.

The service-token lookup (token -> app -> workspace, one joined query) runs on every SDK call,
so each process keeps the row it read for ``SDK_LOOKUP_CACHE_SECONDS``. Any save or delete of a
service token, an app or a workspace empties that process's cache at once and is published to
every other process through the shared epoch (``workspaces.sdk_cache``): a revocation through
the dashboard, the admin API or the Django admin is refused by the very next call any process
serves. The digest is checked on every call, cached or not.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import jwt
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from . import sdk_cache
from .models import (
    App,
    AppServiceToken,
    AppUser,
    PersonalAccessToken,
    RevokedAppUserToken,
    Workspace,
)

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
    row = _by_prefix(model, select_related, split[1])
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.digest, _digest(raw)):
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        # not on a row revoked meanwhile (the row may come from the SDK lookup cache)
        model.objects.filter(pk=row.pk, revoked_at__isnull=True).update(last_used_at=now)
        row.last_used_at = now
        _CACHE.pop((model, select_related, split[1]), None)  # re-read with the new time
    return row


# --- the per-process cache of service-token rows ---------------------------------------------

#: Token models whose lookups are cached (the SDK's hot path; personal tokens are not). The
#: same cache holds an app-user token's app, app user and "not revoked" (see below).
CACHED_MODELS: tuple[type[models.Model], ...] = (AppServiceToken,)
_CACHE_MAX = 4096
_CACHE: dict[tuple[Any, ...], tuple[float, tuple[Any, ...]]] = {}
_CACHE_LOCK = threading.Lock()
_generation = [0]  # bumped by every forget: a row read before it is never stored after it


def _cache_seconds() -> float:
    return sdk_cache.seconds()


def _clear() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()
        _generation[0] += 1


def forget_cached_tokens(using: str | None = None, **_: Any) -> None:
    """Empty this process's token cache (connected to saves and deletes of tokens, apps and
    workspaces; also for tests and tools): now, and again when the change's transaction
    commits (a row read meanwhile still showed the old state)."""
    _clear()
    if transaction.get_connection(using).in_atomic_block:
        transaction.on_commit(_clear, using=using)
    sdk_cache.bump(using)


sdk_cache.register(_clear)  # another process changed a cached row


# post_delete only where rows are few (a receiver stops Django's fast bulk delete of the
# cascade): deleting an app or a workspace empties the cache, which covers its app users and
# revocations; a row of those deleted on its own is seen within the cache's seconds.
for _sender, _signals in ((AppServiceToken, (post_save, post_delete)),
                          (App, (post_save, post_delete)),
                          (Workspace, (post_save, post_delete)),
                          (AppUser, (post_save,)), (RevokedAppUserToken, (post_save,))):
    for _signal in _signals:
        _signal.connect(forget_cached_tokens, sender=_sender,
                        dispatch_uid=f"workspaces.tokens.forget.{_sender.__name__}.{id(_signal)}")


@dataclass(frozen=True)
class _Joined:
    path: str  # "" for the token itself, else a select_related path ("app__workspace")
    model: type[models.Model]
    start: int  # first column in the row
    attnames: tuple[str, ...]
    pk_index: int
    converters: tuple[tuple[int, tuple[Any, ...], Any], ...]  # (column, converters, expression)


@functools.cache
def _lookup_plan(model: type[models.Model], select_related: tuple[str, ...]
                 ) -> tuple[str, tuple[_Joined, ...]]:
    """``model.objects.select_related(*paths).filter(prefix=%s)[:1]`` as SQL written once per
    process, with the ORM's own value converters: this runs on every SDK call, and compiling
    the ORM query each time cost more CPU than the database spent answering it."""
    qn = connection.ops.quote_name
    aliases: dict[str, tuple[str, type[models.Model]]] = {"": ("t0", model)}
    from_sql = f"{qn(model._meta.db_table)} t0"
    for path in sorted(select_related, key=lambda p: p.count("__")):
        parent_path, _, name = path.rpartition("__")
        parent_alias, parent = aliases[parent_path]
        field = parent._meta.get_field(name)
        target = field.related_model
        alias = f"t{len(aliases)}"
        join = "LEFT OUTER JOIN" if field.null else "INNER JOIN"
        from_sql += (f" {join} {qn(target._meta.db_table)} {alias} ON {alias}."
                     f"{qn(target._meta.pk.column)} = {parent_alias}.{qn(field.column)}")
        aliases[path] = (alias, target)
    columns: list[str] = []
    plan = []
    for path, (alias, joined) in aliases.items():
        fields = joined._meta.concrete_fields
        converters = []
        for i, field in enumerate(fields):
            expression = field.get_col(alias)
            found = (*connection.ops.get_db_converters(expression),
                     *field.get_db_converters(connection))
            if found:
                converters.append((i, found, expression))
        plan.append(_Joined(path, joined, len(columns), tuple(f.attname for f in fields),
                            fields.index(joined._meta.pk), tuple(converters)))
        columns += [f"{alias}.{qn(f.column)}" for f in fields]
    # only quoted identifiers from the models' meta are interpolated; the prefix is a parameter
    sql = f"SELECT {', '.join(columns)} FROM {from_sql} WHERE t0.{qn('prefix')} = %s LIMIT 1"  # noqa: S608
    return sql, tuple(plan)


def _row_values(model: type[models.Model], select_related: tuple[str, ...],
                prefix: str) -> tuple[Any, ...] | None:
    """The joined row of the token with ``prefix``: from this process's cache while fresh,
    else one query (only found rows are cached)."""
    ttl = _cache_seconds() if model in CACHED_MODELS else 0
    key = (model, select_related, prefix)
    if ttl > 0:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
    sql, _ = _lookup_plan(model, select_related)
    generation = _generation[0]
    with connection.cursor() as cursor:
        cursor.execute(sql, [prefix])
        values = cursor.fetchone()
    if ttl > 0 and values is not None:
        with _CACHE_LOCK:
            if generation == _generation[0]:
                if len(_CACHE) >= _CACHE_MAX:
                    _CACHE.clear()
                _CACHE[key] = (time.monotonic() + ttl, tuple(values))
    return values


def _by_prefix(model: type[T], select_related: tuple[str, ...], prefix: str) -> T | None:
    """The token row (and its select_related rows), built fresh on every call: instances are
    never shared between requests, only the column values are cached."""
    _, plan = _lookup_plan(model, select_related)
    values = _row_values(model, select_related, prefix)
    if values is None:
        return None
    built: dict[str, Any] = {}
    for joined in plan:
        row = list(values[joined.start:joined.start + len(joined.attnames)])
        for i, converters, expression in joined.converters:
            for convert in converters:
                row[i] = convert(row[i], expression, connection)
        instance = (None if row[joined.pk_index] is None
                    else joined.model.from_db(connection.alias, list(joined.attnames), row))
        built[joined.path] = instance
        if joined.path:
            parent_path, _, name = joined.path.rpartition("__")
            parent = built[parent_path]
            if parent is not None:
                parent._meta.get_field(name).set_cached_value(parent, instance)
    return built[""]


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


def token_audience(raw: str) -> str | None:
    """The app id an app-user token names (unverified: only to pick the key), or None."""
    try:
        aud = jwt.decode(raw, options={"verify_signature": False}).get("aud")
    except jwt.PyJWTError:
        return None
    return aud if isinstance(aud, str) else None


def looks_like_jwt(raw: str) -> bool:
    return raw.count(".") == 2 and not raw.startswith(("sbp_", "sbs_"))


def decode_app_user_token(raw: str) -> tuple[App, AppUser, dict]:
    """Verify signature, expiry, app and revocation; returns (app, app_user, claims)."""
    try:
        unverified = jwt.decode(raw, options={"verify_signature": False})
        app_id = unverified.get("aud")
        if not isinstance(app_id, str):
            raise InvalidAppUserToken("Token names no app.")
        app = _app_by_public_id(app_id)
        claims = jwt.decode(raw, _app_key(app), algorithms=["HS256"], audience=app_id,
                            issuer=JWT_ISSUER, options={"require": ["exp", "jti", "sub"]})
    except App.DoesNotExist:
        raise InvalidAppUserToken("Token names an unknown app.")
    except jwt.ExpiredSignatureError:
        raise InvalidAppUserToken("The app-user token has expired.")
    except jwt.PyJWTError:
        raise InvalidAppUserToken("The app-user token is not valid.")
    if _is_revoked(claims["jti"]):
        raise InvalidAppUserToken("The app-user token has been revoked.")
    app_user = _app_user(app, claims["sub"])
    if app_user is None:
        raise InvalidAppUserToken("The app user no longer exists.")
    return app, app_user, claims


# The three lookups of an app-user token, cached like the service-token rows (same seconds,
# emptied by any save or delete of an app, a workspace, an app user or a revocation in this
# process). Instances are copied out, never shared between requests.


def _cached(key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
    ttl = _cache_seconds()
    if ttl > 0:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
    generation = _generation[0]
    value = load()
    if ttl > 0 and value is not None:
        with _CACHE_LOCK:
            if generation == _generation[0]:
                if len(_CACHE) >= _CACHE_MAX:
                    _CACHE.clear()
                _CACHE[key] = (time.monotonic() + ttl, value)
    return value


def _copy_app(app: App) -> App:
    fresh = copy.copy(app)
    if App.workspace.is_cached(app):
        fresh.workspace = copy.copy(app.workspace)
    return fresh


def _app_by_public_id(app_id: str) -> App:
    """Raises App.DoesNotExist."""
    app = _cached(("app", app_id), lambda: App.objects.select_related("workspace")
                  .filter(public_id=app_id).first())
    if app is None:
        raise App.DoesNotExist
    return _copy_app(app)


def _is_revoked(jti: str) -> bool:
    """Only "not revoked" is cached: a revocation made here empties the cache at once."""
    fine = _cached(("jti-not-revoked", jti),
                   lambda: None if RevokedAppUserToken.objects.filter(jti=jti).exists() else True)
    return fine is None


def _app_user(app: App, external_id: str) -> AppUser | None:
    found = _cached(("app-user", app.pk, external_id),
                    lambda: AppUser.objects.filter(app_id=app.pk, external_id=external_id)
                    .first())
    if found is None:
        return None
    app_user = copy.copy(found)
    app_user.app = app
    return app_user
