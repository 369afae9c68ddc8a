"""OAuth 2.0 client side (RFC 6749 authorization code + refresh, RFC 7636 PKCE, RFC 7009
revocation). Knows nothing of the ORM.

Every request goes through ``integrations.egress`` (SSRF guard) with ``max_redirects=0``: a
token endpoint that redirects is an error, so client credentials and codes never follow a
redirect. Error messages never contain a token, code, verifier or secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.utils import timezone

from integrations import egress

TOKEN_MAX_BYTES = 256 * 1024


class OAuthError(Exception):
    """``error`` is the OAuth error code (``invalid_grant``...) or ours; ``transient`` means
    trying again later may work (network trouble, 5xx)."""

    def __init__(self, error: str, description: str = "", *, transient: bool = False) -> None:
        self.error = error
        self.description = description[:200]
        self.transient = transient
        super().__init__(f"{error}: {self.description}" if self.description else error)


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str
    token_auth: str = "post"  # or "basic"


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    token_type: str
    expires_at: datetime | None
    scope: str | None
    extra: dict[str, str]

    def __repr__(self) -> str:  # never print tokens
        return f"<TokenSet expires_at={self.expires_at} scope={self.scope!r}>"


def policy() -> egress.EgressPolicy:
    base = egress.EgressPolicy.from_settings()
    timeout = float(getattr(settings, "CONNECTOR_TOKEN_TIMEOUT_SECONDS", 15.0))
    return replace(base, connect_timeout=min(base.connect_timeout, timeout),
                   read_timeout=timeout, deadline=timeout, max_bytes=TOKEN_MAX_BYTES)


def new_state() -> str:
    return secrets.token_urlsafe(32)


def state_digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def new_pkce() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(64)[:96]
    return verifier, pkce_challenge(verifier)


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest())
    return challenge.decode("ascii").rstrip("=")


def same_digest(digest: str, value: str) -> bool:
    """Whether ``value`` hashes to ``digest`` (constant-time compare; False for an empty
    digest or value)."""
    if not digest or not value:
        return False
    return hmac.compare_digest(digest, state_digest(value))


def authorize_url(base: str, *, client_id: str, redirect_uri: str, scopes: str, state: str,
                  code_challenge: str | None, extra: dict[str, str] | None = None) -> str:
    """The provider's authorization URL. ``base`` must pass the egress URL check."""
    egress.check_url_shape(base, policy=policy())
    parts = urlsplit(base)
    query = parse_qsl(parts.query, keep_blank_values=True)
    params: dict[str, str] = {"response_type": "code", "client_id": client_id,
                              "redirect_uri": redirect_uri, "state": state}
    if scopes:
        params["scope"] = scopes
    if code_challenge:
        params["code_challenge"] = code_challenge
        params["code_challenge_method"] = "S256"
    params.update(extra or {})
    query += list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _post_form(url: str, data: dict[str, str], client: Client) -> egress.EgressResponse:
    headers = {"Accept": "application/json",
               "Content-Type": "application/x-www-form-urlencoded"}
    form = dict(data)
    if client.token_auth == "basic":
        # RFC 6749 §2.3.1: form-encode each part before joining.
        pair = f"{_form(client.client_id)}:{_form(client.client_secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    else:
        form["client_id"] = client.client_id
        if client.client_secret:
            form["client_secret"] = client.client_secret
    body = urlencode(form).encode("ascii")
    try:
        return egress.request("POST", url, headers=headers, body=body, policy=policy(),
                              max_redirects=0)
    except egress.EgressBlocked as exc:
        raise OAuthError("endpoint_blocked", exc.reason) from None
    except egress.EgressError as exc:
        raise OAuthError("endpoint_unreachable", exc.reason, transient=True) from None


def _form(value: str) -> str:
    return urlencode({"": value})[1:]


def _parse(resp: egress.EgressResponse) -> dict[str, Any]:
    content_type = resp.headers.get("content-type", "")
    try:
        if "json" in content_type or resp.body.strip().startswith(b"{"):
            data = json.loads(resp.body)
        else:
            data = dict(parse_qsl(resp.body.decode("utf-8")))
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict):
        raise OAuthError("invalid_response", f"unreadable answer (HTTP {resp.status})",
                         transient=resp.status >= 500)
    return data


def _token_call(url: str, data: dict[str, str], client: Client,
                token_key: str = "") -> TokenSet:
    resp = _post_form(url, data, client)
    if 300 <= resp.status < 400:
        raise OAuthError("endpoint_redirected", f"the token endpoint redirected (HTTP "
                                                f"{resp.status}); redirects are not followed")
    body = _parse(resp)
    nested = body.get(token_key) if token_key else None
    if isinstance(nested, dict) and nested.get("access_token"):
        # e.g. Slack's user token: {"access_token": <bot token>, "authed_user": {...}}
        body = {k: v for k, v in body.items() if k != token_key} | nested
    if resp.status >= 400 or "error" in body or not body.get("access_token"):
        error = str(body.get("error") or f"http_{resp.status}")
        raise OAuthError(error, str(body.get("error_description") or ""),
                         transient=resp.status >= 500 or resp.status == 429)
    expires_at = None
    expires_in = body.get("expires_in")
    if expires_in not in (None, ""):
        try:
            expires_at = timezone.now() + timedelta(seconds=int(float(expires_in)))
        except (TypeError, ValueError):
            expires_at = None
    known = {"access_token", "refresh_token", "token_type", "expires_in", "scope", "id_token"}
    extra = {k: str(v) for k, v in body.items()
             if k not in known and isinstance(v, str | int | float) and len(str(v)) < 300}
    return TokenSet(
        access_token=str(body["access_token"]),
        refresh_token=str(body["refresh_token"]) if body.get("refresh_token") else None,
        token_type=str(body.get("token_type") or "Bearer")[:30],
        expires_at=expires_at,
        scope=str(body["scope"]) if body.get("scope") else None,
        extra=extra,
    )


def exchange_code(token_url: str, client: Client, *, code: str, redirect_uri: str,
                  code_verifier: str | None, token_key: str = "") -> TokenSet:
    """``token_key``: the token set sits under that key of the answer (Slack's
    ``authed_user``) when present there."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if code_verifier:
        data["code_verifier"] = code_verifier
    return _token_call(token_url, data, client, token_key)


def refresh(token_url: str, client: Client, *, refresh_token: str,
            token_key: str = "") -> TokenSet:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return _token_call(token_url, data, client, token_key)


def revoke(url: str, client: Client, *, token: str, hint: str) -> bool:
    """RFC 7009. True when the provider accepted it; never raises."""
    try:
        resp = _post_form(url, {"token": token, "token_type_hint": hint}, client)
    except OAuthError:
        return False
    return 200 <= resp.status < 300
