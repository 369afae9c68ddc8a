"""Stored sensitive header values are bound to the origin (scheme, host, port) they were entered
for: moving the base URL to another server needs every sensitive value typed again in the same
save, or the save is refused and nothing reaches the new server. Real local upstreams, the
dashboard, the admin API and the SDK proxy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import reverse

from integrations import egress, runtime, services
from integrations.models import IntegrationHeader, SpecImport, WorkspaceIntegration
from integrations.services import HeaderInput
from tests.integrations import proxy_support
from tests.integrations.egress_support import Upstream
from tests.integrations.proxy_support import call_url
from tests.integrations.wizard_support import canary, ready_import

pytestmark = pytest.mark.django_db

KEYS = ["get:/pets", "get:/pets/{petId}"]


@pytest.fixture
def good() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def evil() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def reachable(settings: Any, good: Upstream, evil: Upstream) -> Any:
    from django.core.cache import cache

    settings.EGRESS_ALLOW_CIDRS = ["127.0.0.0/8"]
    settings.EGRESS_ALLOWED_PORTS = [80, 443, good.port, evil.port]
    settings.PROXY_RATE_LIMIT_PER_MINUTE = 0
    runtime.invalidate()
    cache.clear()
    yield settings
    runtime.invalidate()
    egress.clear_pools()


@pytest.fixture
def pets(personas: Any, good: Upstream, reachable: Any) -> tuple[WorkspaceIntegration, str]:
    """An integration made through the service, on the good server, with a sensitive key and a
    plain header."""
    key = canary()
    spec_import = ready_import(personas.workspace, personas.admin, proxy_support.SPEC)
    integration = services.create_integration(
        personas.workspace, actor=personas.admin, spec_import=spec_import, slug="pets",
        name="Pets", base_url=good.url("/v1"), operation_keys=KEYS,
        headers=[HeaderInput("X-Api-Key", key), HeaderInput("X-Tenant", "acme")])
    return integration, key


def edit_url(personas: Any, integration: WorkspaceIntegration) -> str:
    return reverse("integration-edit", args=[personas.workspace.public_id,
                                             integration.public_id])


def api_url(personas: Any, integration: WorkspaceIntegration) -> str:
    return (f"/api/v1/workspaces/{personas.workspace.public_id}/integrations/"
            f"{integration.public_id}/")


def call(sdk: Any, personas: Any) -> Any:
    return sdk(personas.app).post(call_url(personas.app.public_id, "pets", "get:/pets"), {},
                                  format="json")


def keys_seen(server: Upstream) -> list[str]:
    return [s.headers.get("x-api-key", "") for s in server.seen]


def form(base_url: str, *, names: list[str], values: list[str], keeps: list[str],
         **extra: Any) -> dict[str, Any]:
    return {"slug": "pets", "name": "Pets", "description": "kept text", "base_url": base_url,
            "header_name": names, "header_value": values, "header_keep": keeps, **extra}


# --- the attack ---------------------------------------------------------------------------------


def test_dashboard_move_to_another_server_is_refused_and_the_key_never_reaches_it(
        client, personas, sdk, pets, good, evil):
    integration, key = pets
    client.force_login(personas.admin)
    url = edit_url(personas, integration)
    response = client.post(url, form(evil.url("/v1"), names=["X-Api-Key", "X-Tenant"],
                                     values=["", "acme"], keeps=["1", "1"]))
    assert response.status_code == 200, "the move was saved"
    html = response.content.decode()
    assert "moves to a different server" in html and "X-Api-Key" in html
    assert f"127.0.0.1:{evil.port}" in html
    # what was typed is still there; the secret is not on the page
    assert f'value="{evil.url("/v1")}"' in html and "kept text" in html
    assert 'value="acme"' in html and key not in html
    integration.refresh_from_db()
    assert integration.base_url == good.url("/v1")
    # the next proxied call still goes to the server the key was entered for
    assert call(sdk, personas).status_code == 200
    assert keys_seen(evil) == []
    assert keys_seen(good) == [key]


def test_api_move_to_another_server_is_refused_and_the_key_never_reaches_it(
        api, personas, sdk, pets, good, evil):
    integration, key = pets
    client = api(personas.admin)
    before = client.get(api_url(personas, integration)).json()
    for body in [{"base_url": evil.url("/v1")},
                 {"base_url": evil.url("/v1"), "headers": [{"name": "X-Api-Key"},
                                                           {"name": "X-Tenant"}]},
                 {"base_url": evil.url("/v1"), "name": "Renamed",
                  "headers": [{"name": "X-Api-Key"},
                              {"name": "X-Tenant", "value": "globex"}]}]:
        response = client.patch(api_url(personas, integration), body, format="json")
        assert response.status_code == 400, response.json()
        data = response.json()
        assert data["code"] == "credentials_for_another_origin"
        assert "moves to a different server" in data["detail"]
        assert "X-Api-Key" in data["detail"] and f"127.0.0.1:{evil.port}" in data["detail"]
        assert data["errors"] == {"base_url": [data["detail"]]}
        assert key not in response.content.decode()
    assert client.get(api_url(personas, integration)).json() == before
    assert call(sdk, personas).status_code == 200
    assert keys_seen(evil) == []
    assert keys_seen(good) == [key]


def test_after_the_refusal_the_page_asks_for_exactly_those_values(client, personas, sdk, pets,
                                                                   good, evil):
    integration, key = pets
    client.force_login(personas.admin)
    url = edit_url(personas, integration)
    html = client.post(url, form(evil.url("/v1"), names=["X-Api-Key", "X-Tenant"],
                                 values=["", "acme"], keeps=["1", "1"])).content.decode()
    assert html.count('data-testid="reenter"') == 1
    assert "sensitive – delete to change" not in html  # the row takes a value now
    assert key not in html
    # typed into that row (still a kept row), the move is saved
    new_key = canary()
    response = client.post(url, form(evil.url("/v1"), names=["X-Api-Key", "X-Tenant"],
                                     values=[new_key, "acme"], keeps=["1", "1"]))
    assert response.status_code == 302
    assert call(sdk, personas).status_code == 200
    assert keys_seen(evil) == [new_key] and keys_seen(good) == []


@pytest.mark.parametrize("role", ["member", "outsider", "anonymous"])
def test_wrong_side_cannot_move_it_either(api, client, personas, sdk, pets, good, evil, role):
    integration, key = pets
    user = {"member": personas.member, "outsider": personas.outsider,
            "anonymous": None}[role]
    response = api(user).patch(api_url(personas, integration), {
        "base_url": evil.url("/v1"), "headers": [{"name": "X-Api-Key", "value": "x"}]},
        format="json")
    assert response.status_code == {"member": 403, "outsider": 404,
                                    "anonymous": 401}[role], response.content
    if user is not None:
        client.force_login(user)
    response = client.post(edit_url(personas, integration), form(
        evil.url("/v1"), names=["X-Api-Key"], values=["x"], keeps=[""]))
    assert response.status_code == {"member": 403, "outsider": 404, "anonymous": 302}[role]
    if role == "anonymous":
        assert "/login/" in response.url
    integration.refresh_from_db()
    assert integration.base_url == good.url("/v1")
    assert call(sdk, personas).status_code == 200
    assert keys_seen(evil) == [] and keys_seen(good) == [key]


# --- what is allowed ----------------------------------------------------------------------------


def test_moving_with_every_sensitive_value_typed_again_is_saved(client, personas, sdk, pets,
                                                                good, evil):
    integration, key = pets
    new_key = canary()
    client.force_login(personas.admin)
    # the masked row deleted and the header added again, with its value
    response = client.post(edit_url(personas, integration), form(
        evil.url("/v2"), names=["X-Tenant", "X-Api-Key"], values=["acme", new_key],
        keeps=["1", ""]))
    assert response.status_code == 302
    integration.refresh_from_db()
    assert integration.base_url == evil.url("/v2")
    assert call(sdk, personas).status_code == 200
    assert keys_seen(evil) == [new_key] and keys_seen(good) == []
    assert evil.seen[0].headers["x-tenant"] == "acme"  # a plain header simply moves along


def test_api_move_with_the_value_typed_again(api, personas, sdk, pets, good, evil):
    integration, key = pets
    new_key = canary()
    response = api(personas.admin).patch(api_url(personas, integration), {
        "base_url": evil.url("/v1"),
        "headers": [{"name": "X-Api-Key", "value": new_key}, {"name": "X-Tenant"}]},
        format="json")
    assert response.status_code == 200, response.json()
    assert call(sdk, personas).status_code == 200
    assert keys_seen(evil) == [new_key] and keys_seen(good) == []


def test_moving_after_deleting_the_sensitive_header_is_saved(api, personas, sdk, pets, good,
                                                             evil):
    integration, key = pets
    response = api(personas.admin).patch(api_url(personas, integration), {
        "base_url": evil.url("/v1"), "headers": [{"name": "X-Tenant"}]}, format="json")
    assert response.status_code == 200, response.json()
    assert call(sdk, personas).status_code == 200
    assert keys_seen(evil) == [""] and evil.seen[0].headers["x-tenant"] == "acme"


@pytest.mark.parametrize("new_path", ["/v2", "", "/v1/deeper/"])
def test_a_new_path_on_the_same_origin_keeps_the_values(api, personas, sdk, pets, good,
                                                        new_path):
    integration, key = pets
    response = api(personas.admin).patch(api_url(personas, integration),
                                         {"base_url": good.url(new_path)}, format="json")
    assert response.status_code == 200, response.json()
    assert call(sdk, personas).status_code == 200
    assert keys_seen(good) == [key]
    assert good.seen[0].path.startswith((new_path.rstrip("/") or "") + "/pets")


def test_a_plain_header_alone_does_not_hold_the_base_url(api, personas, reachable, good, evil):
    spec_import = ready_import(personas.workspace, personas.admin, proxy_support.SPEC)
    integration = services.create_integration(
        personas.workspace, actor=personas.admin, spec_import=spec_import, slug="plain",
        name="Plain", base_url=good.url("/v1"), operation_keys=KEYS,
        headers=[HeaderInput("X-Tenant", "acme")])
    response = api(personas.admin).patch(api_url(personas, integration),
                                         {"base_url": evil.url("/v1")}, format="json")
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize(("old", "new", "same"), [
    ("https://api.x.com", "https://API.x.com:443/v2", True),
    ("http://api.x.com", "http://api.x.com:80/", True),
    ("https://api.x.com", "http://api.x.com", False),
    ("https://api.x.com", "https://api.x.com:8443", False),
    ("https://api.x.com", "https://api.x.co", False),
    ("https://bücher.example", "https://xn--bcher-kva.example/a", True),
])
def test_origin_normalisation(old, new, same, settings):
    settings.EGRESS_ALLOWED_PORTS = [80, 443, 8443]
    assert (services.base_url_origin(old) == services.base_url_origin(new)) is same


def test_the_message_names_the_new_server_and_every_header(api, personas, reachable):
    spec_import = ready_import(personas.workspace, personas.admin, proxy_support.SPEC)
    integration = services.create_integration(
        personas.workspace, actor=personas.admin, spec_import=spec_import, slug="two",
        name="Two", base_url="https://api.x.com/v1", operation_keys=KEYS,
        headers=[HeaderInput("X-Api-Key", canary()), HeaderInput("Authorization", canary()),
                 HeaderInput("X-Tenant", "acme")])
    with pytest.raises(services.IntegrationError) as caught:
        services.update_integration(integration, actor=personas.admin,
                                    base_url="https://API.evil.com/v1")
    assert caught.value.field == "base_url"
    assert caught.value.message == (
        "The base URL moves to a different server (api.evil.com). Enter the sensitive header "
        "values again (X-Api-Key, Authorization) so they are not sent to a server they were "
        "not entered for.")
    # one value typed again is not enough: both are needed
    with pytest.raises(services.IntegrationError) as caught:
        services.update_integration(integration, actor=personas.admin,
                                    base_url="https://api.evil.com/v1", headers=[
                                        HeaderInput("X-Api-Key", "new"),
                                        HeaderInput("Authorization"), HeaderInput("X-Tenant")])
    assert "(Authorization)" in caught.value.message
    # the same server spelled differently is not a move
    services.update_integration(integration, actor=personas.admin,
                                base_url="https://API.x.com:443/v2")
    integration.refresh_from_db()
    assert integration.base_url == "https://API.x.com:443/v2"


# --- other paths that could move the base URL ---------------------------------------------------


def test_applying_a_refresh_never_moves_the_base_url(personas, sdk, pets, good, evil,
                                                     django_capture_on_commit_callbacks):
    """The refreshed spec names another server: applying it keeps the base URL (and so the
    key goes nowhere new)."""
    integration, key = pets
    import copy
    import json

    moved = copy.deepcopy(proxy_support.SPEC)
    moved["servers"] = [{"url": evil.url("/v1")}]
    good.routes["/spec.json"] = lambda h: h.reply(200, json.dumps(moved).encode(),
                                                  [("Content-Type", "application/json")])
    SpecImport.objects.filter(pk=integration.spec_id).update(
        source=SpecImport.Source.URL, source_url=good.url("/spec.json"))
    with django_capture_on_commit_callbacks(execute=True):
        refresh = services.start_refresh(integration, actor=personas.admin)
    refresh.refresh_from_db()
    assert refresh.status == SpecImport.Status.READY, refresh.error_message
    assert refresh.default_base_url == evil.url("/v1")
    services.apply_refresh(integration, refresh, actor=personas.admin)
    integration.refresh_from_db()
    assert integration.spec_id == refresh.pk and integration.base_url == good.url("/v1")
    assert call(sdk, personas).status_code == 200
    assert keys_seen(evil) == [] and keys_seen(good)[-1] == key


def test_a_value_bound_to_another_origin_is_never_sent(personas, sdk, pets, good, evil):
    """Defence in depth: a base URL moved behind the services' back (a shell, a bad data
    migration) does not carry the stored values along: the proxy refuses the call."""
    integration, key = pets
    WorkspaceIntegration.objects.filter(pk=integration.pk).update(
        base_url=evil.url("/v1"), config_version=integration.config_version + 1)
    response = call(sdk, personas)
    assert response.status_code >= 500
    assert key not in response.content.decode()
    assert evil.seen == [] and good.seen == []
    header = IntegrationHeader.objects.get(integration=integration, name="X-Api-Key")
    assert header.origin == services.base_url_origin(good.url("/v1"))


def test_django_admin_cannot_change_the_base_url(client, personas, pets, evil, admin_user):
    integration, key = pets
    client.force_login(admin_user)
    url = reverse("admin:integrations_workspaceintegration_change", args=[integration.pk])
    client.post(url, {"base_url": evil.url("/v1"), "name": "Pets", "slug": "pets"})
    integration.refresh_from_db()
    assert integration.base_url != evil.url("/v1")
