"""Connectors give a way forward: how to configure a platform provider on this server (its
environment variables and the callback URL to register), the callback URL on the register and
edit forms, and the register form prefilled from providers.yaml."""

from __future__ import annotations

from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from connectors import guidance, providers, services
from connectors.models import WorkspaceConnector

pytestmark = pytest.mark.django_db

SITE = "https://portal.example.com"
CALLBACK = SITE + "/connectors/oauth/callback/"
SECRET = "CANARY-platform-secret-5e1d"


@pytest.fixture
def site(settings):  # type: ignore[no-untyped-def]
    settings.SITE_URL = SITE + "/"
    settings.CONNECTOR_CALLBACK_URL = ""
    settings.CONNECTOR_CLIENTS = {"github": {"client_id": "gh-id", "client_secret": SECRET}}
    return settings


def _app_page(client, personas) -> str:  # type: ignore[no-untyped-def]
    resp = client.get(reverse("app-connectors", args=[personas.workspace.public_id,
                                                      personas.app.public_id]))
    assert resp.status_code == 200
    return resp.content.decode()


def test_app_page_says_how_to_configure_each_unconfigured_provider(client, personas, site):
    client.force_login(personas.owner)
    html = _app_page(client, personas)
    assert 'data-testid="platform-setup"' in html
    assert f'<code data-testid="callback-url">{CALLBACK}</code>' in html
    assert f'data-copy="{CALLBACK}"' in html
    configured = {"github"}
    for p in providers.all_providers().values():
        if p.type in configured:
            assert f'id="setup-{p.type}"' not in html
            continue
        upper = p.type.upper()
        assert f'id="setup-{p.type}"' in html, p.type
        assert f"<code>CONNECTOR_{upper}_CLIENT_ID</code>" in html
        assert f"<code>CONNECTOR_{upper}_CLIENT_SECRET</code>" in html
        assert f'href="#setup-{p.type}"' in html  # the row's note links to its instructions
    assert "<code>https://www.googleapis.com/auth/calendar</code>" in html  # default scopes
    assert SECRET not in html and "gh-id" not in html


def test_the_callback_url_shown_is_the_one_sent_to_the_provider(client, personas, site):
    client.force_login(personas.owner)
    assert CALLBACK in _app_page(client, personas)
    resp = client.post(reverse("app-connectors", args=[personas.workspace.public_id,
                                                       personas.app.public_id]),
                       {"action": "connect", "integration_type": "github"})
    assert resp.status_code == 302
    sent = parse_qs(urlsplit(resp["Location"]).query)["redirect_uri"]
    assert sent == [CALLBACK]


def test_callback_url_order_of_settings(settings, rf):  # type: ignore[no-untyped-def]
    request = rf.get("/", HTTP_HOST="localhost:8000")
    settings.CONNECTOR_CALLBACK_URL, settings.SITE_URL = "", ""
    assert guidance.callback_url(request) == "http://localhost:8000/connectors/oauth/callback/"
    settings.SITE_URL = "https://portal.example.com/"
    assert guidance.callback_url(request) == CALLBACK
    settings.CONNECTOR_CALLBACK_URL = "https://edge.example.com/cb/"
    assert guidance.callback_url(request) == "https://edge.example.com/cb/"


def test_only_those_who_connect_see_the_setup_and_only_admins_the_register_link(
        client, personas, site):
    register = reverse("connectors", args=[personas.workspace.public_id]) + "?provider_type=gitlab"
    client.force_login(personas.admin)
    html = _app_page(client, personas)
    assert "CONNECTOR_GITLAB_CLIENT_ID" in html and unescape(html).count(register) == 1

    # a member who did not create the app sees no connect controls today, so no setup either
    client.force_login(personas.member)
    html = _app_page(client, personas)
    assert 'data-testid="platform-setup"' not in html and "CONNECTOR_GITLAB" not in html
    assert CALLBACK not in html

    # a member who created the app connects it, but may not register workspace connectors
    own = personas.workspace.apps.create(name="Member app", created_by=personas.member)
    html = client.get(reverse("app-connectors", args=[personas.workspace.public_id,
                                                      own.public_id])).content.decode()
    assert "CONNECTOR_GITLAB_CLIENT_ID" in html and CALLBACK in html
    assert "?provider_type=" not in html

    client.force_login(personas.outsider)
    resp = client.get(reverse("app-connectors", args=[personas.workspace.public_id,
                                                      personas.app.public_id]))
    assert resp.status_code == 404 and b"CONNECTOR_GITLAB" not in resp.content
    client.logout()
    resp = client.get(reverse("app-connectors", args=[personas.workspace.public_id,
                                                      personas.app.public_id]))
    assert resp.status_code == 302 and "/login/" in resp["Location"]


def test_register_form_shows_the_callback_url_to_admins_only(client, personas, site):
    url = reverse("connectors", args=[personas.workspace.public_id])
    client.force_login(personas.admin)
    html = client.get(url).content.decode()
    assert f'<code data-testid="callback-url">{CALLBACK}</code>' in html
    assert f'data-copy="{CALLBACK}"' in html
    client.force_login(personas.member)
    html = client.get(url).content.decode()
    assert CALLBACK not in html and 'name="client_secret"' not in html
    assert "Only workspace admins register connectors." in html


def test_choosing_github_prefills_its_urls_and_scopes(client, personas, site):
    github = providers.get("github")
    assert github is not None
    client.force_login(personas.admin)
    resp = client.get(reverse("connectors", args=[personas.workspace.public_id]),
                      {"provider_type": "github"})
    html = resp.content.decode()
    assert f'name="authorize_url" value="{github.authorize_url}"' in html
    assert f'name="token_url" value="{github.token_url}"' in html
    assert f'name="scopes" value="{" ".join(github.scopes)}"' in html
    assert f'name="name" value="{github.name}"' in html
    assert f'<option value="github" selected data-authorize-url="{github.authorize_url}"' in html
    # every provider's option carries its defaults for static/js/connectors.js
    assert f'data-token-url="{github.token_url}"' in html
    assert 'src="/static/js/connectors.js"' in html
    assert SECRET not in html


def test_an_unknown_provider_type_prefills_nothing(client, personas, site):
    client.force_login(personas.admin)
    html = client.get(reverse("connectors", args=[personas.workspace.public_id]),
                      {"provider_type": "nope"}).content.decode()
    assert 'name="authorize_url" value=' not in html and "Traceback" not in html


def test_a_prefilled_form_registers_as_is(client, personas, site):
    client.force_login(personas.admin)
    url = reverse("connectors", args=[personas.workspace.public_id])
    initial = guidance.prefill("github")
    resp = client.post(url, {**{k: v for k, v in initial.items() if k != "pkce"},
                             "pkce": "on", "client_id": "own-gh", "client_secret": "CANARY-x1"})
    assert resp.status_code == 302, resp.content[:800]
    connector = WorkspaceConnector.objects.get(workspace=personas.workspace, client_id="own-gh")
    assert (connector.provider_type, connector.token_url, connector.scopes) == (
        "github", providers.get("github").token_url, initial["scopes"])


def test_a_provider_with_per_account_urls_says_to_replace_the_placeholders(
        client, personas, site):
    client.force_login(personas.admin)
    html = client.get(reverse("connectors", args=[personas.workspace.public_id]),
                      {"provider_type": "zendesk"}).content.decode()
    assert "{subdomain}" in html
    assert 'data-testid="placeholder-note">' in html  # shown (not hidden)
    html = client.get(reverse("connectors", args=[personas.workspace.public_id]),
                      {"provider_type": "github"}).content.decode()
    assert 'data-testid="placeholder-note" hidden>' in html


def test_connector_page_shows_the_callback_url_never_the_secret(client, personas, site):
    connector = services.create_connector(
        personas.workspace, actor=personas.admin, name="Own", client_id="cid",
        client_secret="CANARY-secret-77aa", authorize_url="https://auth.example.com/a",
        token_url="https://auth.example.com/t")
    url = reverse("connector-detail", args=[personas.workspace.public_id, connector.public_id])
    client.force_login(personas.admin)
    html = client.get(url).content.decode()
    assert CALLBACK in html and "CANARY-secret-77aa" not in html
    client.force_login(personas.member)
    html = client.get(url).content.decode()
    assert CALLBACK not in html
