"""The OAuth state is bound to the browser sent to the provider (RFC 6749 §10.12, RFC 9700):
connectAppUser returns a one-time portal link that sets a cookie and forwards to the provider;
a callback from another browser (no or another cookie) links nothing. The dashboard flows are
bound to the signed-in user and to the browser too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from connectors.models import Connection, OAuthState

from .conftest import local_path, query_of
from .support import register_connector

pytestmark = pytest.mark.django_db

RESTART = b"start the connection again from there"


def _initiate(sdk, personas, connector, user: str = "user-1") -> str:  # type: ignore[no-untyped-def]
    app = personas.app
    resp = sdk(app, user).post(f"/api/apps/{app.public_id}/app-user-auth/connectors/"
                               f"{connector.public_id}/initiate", content_type="application/json")
    assert resp.status_code == 200, resp.content
    return resp.json()["redirect_url"]


def _open(browser: Client, url: str) -> str:
    """The app navigates the browser to the connectAppUser URL; returns the provider URL."""
    if url.startswith("http://testserver/"):  # our one-time link
        resp = browser.get(local_path(url))
        assert resp.status_code == 302, resp.content[:300]
        return resp["Location"]
    return url


@pytest.fixture
def connector(personas, connector_settings, oauth_provider):  # type: ignore[no-untyped-def]
    return register_connector(personas.workspace, personas.admin, oauth_provider)


def test_app_user_callback_from_another_browser_links_nothing(sdk, personas, connector,
                                                              oauth_provider):
    """Attack: the flow is started (and the provider consented) in one browser, and the
    callback URL is completed in another one, with no cookies."""
    started_in = Client()
    provider_url = _open(started_in, _initiate(sdk, personas, connector))
    callback = oauth_provider.authorize(provider_url, "bob")
    other = Client()
    resp = other.get(local_path(callback))
    assert not Connection.objects.exists()
    assert resp.status_code == 400 and RESTART in resp.content
    assert b"not started in this browser" in resp.content

    # a forged cookie does not help either
    row = OAuthState.objects.get()
    other.cookies[f"sb_oauth_{row.pk}"] = "forged-nonce"
    assert other.get(local_path(callback)).status_code == 400
    assert not Connection.objects.exists()

    # the browser that started it still completes (the refusal did not burn the state)
    done = started_in.get(local_path(callback))
    assert done.status_code == 200 and b"connected" in done.content
    assert Connection.objects.get(kind="app_user").app_user.external_id == "user-1"
    assert done.cookies[f"sb_oauth_{row.pk}"].value == ""  # cookie removed


def test_the_link_sets_a_strict_cookie_and_uses_pkce(sdk, personas, connector, settings):
    url = _initiate(sdk, personas, connector)
    assert url.startswith("http://testserver/connectors/oauth/start/")
    browser = Client()
    resp = browser.get(local_path(url))
    assert resp.status_code == 302 and resp["Referrer-Policy"] == "no-referrer"
    row = OAuthState.objects.get()
    cookie = resp.cookies[f"sb_oauth_{row.pk}"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert cookie["path"] == reverse("connectors-oauth-callback") and not cookie["secure"]
    assert int(cookie["max-age"]) <= 600
    assert cookie.value not in (row.browser_digest, "") and len(row.browser_digest) == 64
    q = query_of(resp["Location"])
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert row.digest != "" and row.launched_at is not None

    settings.SESSION_COOKIE_SECURE = True  # production
    again = Client().get(local_path(_initiate(sdk, personas, connector)))
    [secure] = [m for k, m in again.cookies.items() if k.startswith("sb_oauth_")]
    assert secure["secure"]


def test_the_link_can_be_opened_once(sdk, personas, connector, oauth_provider):
    url = _initiate(sdk, personas, connector)
    first, second = Client(), Client()
    provider_url = _open(first, url)
    taken = second.get(local_path(url))
    assert taken.status_code == 400 and b"already opened, or it expired" in taken.content
    assert "Location" not in taken
    callback = oauth_provider.authorize(provider_url, "bob")
    assert second.get(local_path(callback)).status_code == 400
    assert first.get(local_path(callback)).status_code == 200
    assert Connection.objects.filter(kind="app_user").count() == 1


def test_the_link_expires(sdk, personas, connector):
    url = _initiate(sdk, personas, connector)
    OAuthState.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    resp = Client().get(local_path(url))
    assert resp.status_code == 400 and b"expired" in resp.content
    assert OAuthState.objects.get().launched_at is None


def test_the_link_expires_within_minutes(sdk, personas, connector):
    _initiate(sdk, personas, connector)
    assert OAuthState.objects.get().expires_at <= timezone.now() + timedelta(minutes=5)


def test_an_unknown_link_or_a_head_request_takes_nothing(sdk, personas, connector):
    url = _initiate(sdk, personas, connector)
    assert Client().get(reverse("connectors-oauth-launch", args=["x" * 43])).status_code == 400
    assert Client().head(local_path(url)).status_code == 405  # link previews do not consume it
    assert Client().get(local_path(url)).status_code == 302


def _dashboard_start(client, personas, connector=None) -> str:  # type: ignore[no-untyped-def]
    client.force_login(personas.owner)
    data = ({"action": "connect-workspace", "connector_id": connector.public_id} if connector
            else {"action": "connect", "integration_type": "github"})
    resp = client.post(reverse("app-connectors", args=[personas.workspace.public_id,
                                                       personas.app.public_id]), data)
    assert resp.status_code == 302
    return resp["Location"]


@pytest.mark.parametrize("flow", ["platform", "workspace"])
def test_dashboard_callback_in_another_session_of_the_same_user_is_refused(
        client, personas, connector, oauth_provider, flow):
    callback = oauth_provider.authorize(
        _dashboard_start(client, personas, connector if flow == "workspace" else None))
    other = Client()
    other.force_login(personas.owner)  # same user, another browser (session)
    resp = other.get(local_path(callback), follow=True)
    assert b"started in another browser" in resp.content
    assert not Connection.objects.exists()
    anonymous = Client().get(local_path(callback))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    done = client.get(local_path(callback))
    assert done.status_code == 302 and Connection.objects.filter(kind=flow).count() == 1


def test_dashboard_callback_as_another_user_is_refused(client, personas, connector_settings,
                                                        oauth_provider):
    callback = oauth_provider.authorize(_dashboard_start(client, personas))
    cookies = dict(client.cookies.items())
    admin = Client()
    admin.force_login(personas.admin)
    for name, morsel in cookies.items():  # even with the starter's cookie copied over
        if name.startswith("sb_oauth_"):
            admin.cookies[name] = morsel.value
    resp = admin.get(local_path(callback), follow=True)
    assert b"started by another user" in resp.content
    assert not Connection.objects.exists()
