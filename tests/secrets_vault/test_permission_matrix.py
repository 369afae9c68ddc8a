"""Every vault page and endpoint as every persona.

anonymous -> login redirect (pages) / 401 (API); outsider -> 404; member -> reads names and
metadata, 403 on create/replace/delete; admin and owner -> allowed.
"""

from __future__ import annotations

import pytest

from tests.conftest import RANK, ROLES, expect_for_role, login_as, persona_user
from workspaces import services

pytestmark = pytest.mark.django_db

WS, APPS = "/w/{ws}/secrets/", "/w/{ws}/secrets/apps/{app}/"
CA = "/w/{ws}/custom-apis/"

PAGES = [
    (WS, "member"), (APPS, "member"),
    (WS + "STRIPE_API_KEY/", "member"), (APPS + "APP_ONLY_KEY/", "member"),
    (WS + "STRIPE_API_KEY/delete/", "admin"), (APPS + "APP_ONLY_KEY/delete/", "admin"),
    (CA, "member"), (CA + "{api}/", "admin"), (CA + "{api}/delete/", "admin"),
]

PAGE_POSTS = [
    (WS, {"name": "NEW_ONE", "value": "v"}),
    (APPS, {"name": "NEW_ONE", "value": "v"}),
    (WS + "STRIPE_API_KEY/", {"value": "replaced"}),
    (APPS + "APP_ONLY_KEY/", {"value": "replaced"}),
    (WS + "STRIPE_API_KEY/delete/", {}),
    (APPS + "APP_ONLY_KEY/delete/", {}),
    (CA, {"name": "New API", "auth_type": "bearer", "credential": "t", "scope": "organization"}),
    (CA + "{api}/", {"name": "Renamed", "scope": "organization"}),
    (CA + "{api}/delete/", {}),
    (APPS + "access/", {"action": "revoke"}),
]


def fill(url: str, p, d) -> str:  # type: ignore[no-untyped-def]
    return url.format(ws=p.workspace.public_id, app=p.app.public_id,
                      api=d.apis["api_key"].public_id)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url,least", PAGES)
def test_pages(client, personas, vault_data, role, url, least):
    login_as(client, personas, role)
    expect_for_role(client.get(fill(url, personas, vault_data)), role, least)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("url,data", PAGE_POSTS)
def test_page_actions(client, personas, vault_data, role, url, data):
    login_as(client, personas, role)
    response = client.post(fill(url, personas, vault_data), data)
    expect_for_role(response, role, "admin", allowed=(302,))


API_WS, API_APP = "/api/v1/workspaces/{ws}/secrets/", "/api/v1/workspaces/{ws}/apps/{app}/secrets/"
API_CA = "/api/v1/workspaces/{ws}/custom-apis/"
API_ACCESS = "/api/v1/workspaces/{ws}/apps/{app}/secret-access/"

API = [
    ("get", API_WS, None, "member", 200),
    ("post", API_WS, {"name": "NEW_ONE", "value": "v"}, "admin", 201),
    ("get", API_WS + "STRIPE_API_KEY/", None, "member", 200),
    ("put", API_WS + "STRIPE_API_KEY/", {"value": "new"}, "admin", 200),
    ("put", API_WS + "BRAND_NEW/", {"value": "new"}, "admin", 201),
    ("delete", API_WS + "STRIPE_API_KEY/", None, "admin", 204),
    ("get", API_APP, None, "member", 200),
    ("post", API_APP, {"name": "NEW_ONE", "value": "v"}, "admin", 201),
    ("get", API_APP + "APP_ONLY_KEY/", None, "member", 200),
    ("put", API_APP + "APP_ONLY_KEY/", {"value": "new"}, "admin", 200),
    ("delete", API_APP + "APP_ONLY_KEY/", None, "admin", 204),
    ("get", API_CA, None, "member", 200),
    ("post", API_CA, {"name": "N", "auth_type": "api_key", "credential": "k"}, "admin", 201),
    ("get", API_CA + "{api}/", None, "member", 200),
    ("patch", API_CA + "{api}/", {"domain": "api.example.org"}, "admin", 200),
    ("delete", API_CA + "{api}/", None, "admin", 204),
    ("get", API_ACCESS, None, "member", 200),
    ("post", API_ACCESS, {}, "admin", 200),
    ("delete", API_ACCESS, None, "admin", 200),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,url,data,least,ok", API)
def test_api(api, personas, vault_data, role, method, url, data, least, ok):
    client = api(persona_user(personas, role))
    response = getattr(client, method)(fill(url, personas, vault_data), data, format="json")
    body = response.json() if response.content else {}
    if role == "anonymous":
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")
    elif role == "outsider":
        assert response.status_code == 404
    elif RANK[role] >= RANK[least]:
        assert response.status_code == ok, body
    else:
        assert response.status_code == 403
        assert body["code"] == "permission_denied"


@pytest.mark.parametrize("method,url", [
    ("get", API_WS), ("post", API_WS), ("get", API_CA), ("delete", API_CA + "{api}/")])
def test_revoked_personal_token_is_refused(api, personas, vault_data, method, url):
    client = api(personas.owner)
    for token in personas.owner.access_tokens.all():
        services.revoke_personal_token(token, actor=personas.owner)
    response = getattr(client, method)(fill(url, personas, vault_data), {}, format="json")
    assert response.status_code == 401


def test_other_workspaces_objects_are_404(client, api, personas, vault_data):
    """An owner of Acme can't reach Globex's app or Custom API through Acme's URLs."""
    ws = personas.workspace.public_id
    from secrets_vault import services as vault

    theirs = vault.create_custom_api(personas.outsider_workspace, actor=personas.outsider,
                                     name="Theirs", auth_type="bearer", credential="x")
    client.force_login(personas.owner)
    assert client.get(f"/w/{ws}/secrets/apps/{personas.outsider_app.public_id}/"
                      ).status_code == 404
    assert client.get(f"/w/{ws}/custom-apis/{theirs.public_id}/").status_code == 404
    assert client.get(f"/w/{ws}/secrets/OUTSIDER_KEY/").status_code == 404
    owner = api(personas.owner)
    assert owner.get(f"/api/v1/workspaces/{ws}/apps/{personas.outsider_app.public_id}/secrets/"
                     ).status_code == 404
    assert owner.delete(f"/api/v1/workspaces/{ws}/custom-apis/{theirs.public_id}/"
                        ).status_code == 404
    assert owner.post(f"/api/v1/workspaces/{ws}/custom-apis/",
                      {"name": "X", "auth_type": "bearer", "credential": "x", "scope": "app",
                       "app": personas.outsider_app.public_id}, format="json").status_code == 400


def test_system_secrets_are_not_reachable_as_user_secrets(client, api, personas, vault_data):
    ws = personas.workspace.public_id
    client.force_login(personas.owner)
    assert client.get(f"/w/{ws}/secrets/__integration_header_1/").status_code == 404
    owner = api(personas.owner)
    assert owner.get(f"/api/v1/workspaces/{ws}/secrets/__integration_header_1/"
                     ).status_code == 404
    assert owner.put(f"/api/v1/workspaces/{ws}/secrets/__integration_header_1/",
                     {"value": "x"}, format="json").status_code == 404
    names = [s["name"] for s in owner.get(f"/api/v1/workspaces/{ws}/secrets/").json()]
    assert "__integration_header_1" not in names


@pytest.mark.parametrize("caller", ["revoked-pat", "service-token", "app-user-token"])
@pytest.mark.parametrize("method,url,data,least,ok", API)
def test_api_refuses_revoked_and_sdk_tokens(api, sdk, personas, vault_data, caller, method, url,
                                            data, least, ok):
    """Every admin endpoint, from the wrong side: a revoked personal token of the owner, and the
    app's own SDK credentials (service token, app-user token) are not dashboard users."""
    from secrets_vault.models import CustomApi, Secret

    if caller == "revoked-pat":
        client = api(personas.owner)
        for token in personas.owner.access_tokens.all():
            services.revoke_personal_token(token, actor=personas.owner)
    elif caller == "service-token":
        client = sdk(personas.app)
    else:
        client = sdk(personas.app, "user-1")
    before = (sorted(Secret.objects.values_list("name", "version")),
              sorted(CustomApi.objects.values_list("name", "domain")))
    response = getattr(client, method)(fill(url, personas, vault_data), data, format="json")
    assert response.status_code in (401, 403), response.content[:300]
    assert not any(c in response.content.decode() for c in vault_data.all)
    assert (sorted(Secret.objects.values_list("name", "version")),
            sorted(CustomApi.objects.values_list("name", "domain"))) == before


@pytest.mark.parametrize("role", ROLES)
def test_custom_apis_section_on_the_integrations_page(client, personas, vault_data, role):
    """The Integrations page carries the Custom APIs section: names and variables for members,
    the manage link labelled for admins, no credentials for anyone; outsiders get 404."""
    login_as(client, personas, role)
    response = client.get(f"/w/{personas.workspace.public_id}/integrations/")
    if role == "anonymous":
        assert response.status_code == 302 and response.url.startswith("/login/")
        return
    if role == "outsider":
        assert response.status_code == 404
        return
    html = response.content.decode()
    assert 'data-testid="custom-apis-section"' in html
    assert "CUSTOM_API_API_KEY_SERVICE" in html and "CUSTOM_API_BASIC_BILLING" in html
    assert f'href="/w/{personas.workspace.public_id}/custom-apis/"' in html
    assert ("Add or manage Custom APIs" in html) == (RANK[role] >= RANK["admin"])
    assert not any(c in html for c in vault_data.all)


def test_the_matrix_covers_every_vault_route(personas, vault_data):
    """Guard: every page and endpoint the vault serves is in PAGES/PAGE_POSTS/API above (the
    SDK's functions/env has its own file), so a route added later can't skip these tests."""
    from django.urls import resolve

    from tests import canary as walker

    served = {r.name for r in walker.routes_of("secrets_vault")} - {"sdk-functions-env"}
    covered = {resolve(fill(url, personas, vault_data).split("?")[0]).url_name
               for url in [u for u, _ in PAGES] + [u for u, _ in PAGE_POSTS]
               + [u for _, u, *_ in API]}
    assert served == covered
