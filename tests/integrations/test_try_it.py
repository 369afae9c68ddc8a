"""Try it on the integration's page (Django test client, a real local upstream): the form built
from the operation's schema, Send through the proxy as the chosen app (a credit, a call log row
as the dashboard caller), the result in plain words, the SDK snippet with the typed values, the
no-JavaScript POST that keeps what was typed, who may try, and the configured header values
that never reach the page."""

from __future__ import annotations

import base64
import copy
import html as html_module
import json
import re
from typing import Any

import pytest
from django.urls import reverse

from integrations.models import CallLog
from tests.integrations import proxy_support
from tests.integrations.egress_support import Upstream
from tests.integrations.proxy_support import SPEC, make_integration
from workspaces import credits
from workspaces.models import App

_fresh_proxy_state = proxy_support._fresh_proxy_state
egress_open = proxy_support.egress_open
upstream = proxy_support.upstream

pytestmark = pytest.mark.django_db

CANARY = "sk_live_CANARY_7f3a9d1e0b"
TENANT = "tenant-4711-value"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYPj/HwADAgH/"
    "eLk7RQAAAABJRU5ErkJggg==")


def spec_with_examples() -> dict[str, Any]:
    spec = copy.deepcopy(SPEC)
    params = spec["paths"]["/pets"]["get"]["parameters"]
    params[0]["example"] = 20  # limit
    params[2]["schema"]["default"] = "pending"  # status
    spec["paths"]["/pets"]["get"]["parameters"].append(
        {"name": "X-Trace", "in": "header", "required": True, "schema": {"type": "string"},
         "description": "A trace id for the support team"})
    spec["paths"]["/pets"]["get"]["parameters"].append(
        {"name": "X-Api-Key", "in": "header", "schema": {"type": "string"}})
    spec["components"]["schemas"]["Pet"]["example"] = {"name": "Rex", "age": 3}
    return spec


@pytest.fixture
def pets(personas: Any, upstream: Upstream, egress_open: Any) -> Any:
    return make_integration(personas.workspace, upstream.url("/v1"), spec=spec_with_examples(),
                            headers=[("X-Api-Key", CANARY, True), ("X-Tenant", TENANT, False)])


def detail_url(integration: Any) -> str:
    return reverse("integration-detail",
                   args=[integration.workspace.public_id, integration.public_id])


def try_url(integration: Any) -> str:
    return reverse("integration-try-it",
                   args=[integration.workspace.public_id, integration.public_id])


def page(response: Any) -> str:
    return html_module.unescape(response.content.decode())


def panel(text: str, key: str) -> str:
    """The Try it panel of one operation (the one holding its form, up to the next panel)."""
    start = text.rindex('<div class="try-it"', 0, text.index(f'name="operation" value="{key}"'))
    end = text.find('<div class="try-it"', start + 10)
    return text[start: end if end > 0 else len(text)]


def send(client: Any, integration: Any, app: Any, key: str, **fields: str) -> Any:
    data = {"operation": key, "app": app.public_id, **{k.replace("__", "."): v
                                                        for k, v in fields.items()}}
    return client.post(try_url(integration), data)


def test_the_form_is_built_from_the_operation_schema(client, personas, pets):
    client.force_login(personas.member)
    text = page(client.get(detail_url(pets)))
    listing = panel(text, "get:/pets")
    # an enum is a select; optional, so "(not sent)" first, the default chosen
    status = re.search(r'<select id="[^"]+" name="query\.status"[^>]*>(.*?)</select>', listing,
                       re.S)
    assert status is not None
    options = re.findall(r'<option value="([^"]*)"( selected)?>', status.group(1))
    assert options == [("", ""), ("available", ""), ("pending", " selected"), ("sold", "")]
    # a number input (integer, its maximum), prefilled from the parameter's example
    assert re.search(r'<input type="number" id="[^"]+" name="query\.limit" value="20" '
                     r'step="1" max="100"', listing)
    assert re.search(r'<input type="checkbox" id="[^"]+" name="query\.fresh" value="true"',
                     listing)
    assert 'name="query.tags"' in listing and "list of strings, comma-separated" in listing
    # a header parameter: required, typed here; the integration's own header is not
    assert re.search(r'<code>X-Trace</code> <span class="req">required</span>', listing)
    assert 'name="header.X-Trace"' in listing and "A trace id for the support team" in listing
    assert 'name="header.X-Api-Key"' not in listing
    assert "<code>X-Api-Key</code> (set by the integration)" in listing
    # required marks and a required enum without "(not sent)"
    issues = panel(text, "post:/repos/{owner}/{repo}/issues")
    assert re.search(r'<code>owner</code> <span class="req">required</span>', issues)
    state = re.search(r'name="query\.state" required[^>]*>(.*?)</select>', issues, re.S)
    assert state is not None and "(not sent)" not in state.group(1)
    assert '<option value="open" selected>' in state.group(1)
    # the JSON body prefilled from the schema's example
    create = panel(text, "post:/pets")
    body = re.search(r'<textarea class="code" id="[^"]+" name="payload"[^>]*>(.*?)</textarea>',
                     create, re.S)
    assert body is not None and json.loads(body.group(1)) == {"name": "Rex", "age": 3}
    assert 'Request body <span class="req">required</span>' in create
    # the snippet with the prefilled values, and an app to call as
    assert ('const result = await base44.integrations.custom.call("pets", "get:/pets", '
            '{query_params: {limit: 20, status: "pending"}});') in listing
    assert f'<option value="{personas.app.public_id}" selected>Storefront' in listing


def test_send_calls_the_upstream_as_the_app_and_shows_the_result(client, personas, pets,
                                                                  upstream):
    upstream.routes["/v1/pets/7"] = lambda h: h.reply(
        200, json.dumps({"id": 7, "name": "Rex", "tags": ["good", "dog"],
                         "owner": {"name": "Ann", "address": {"city": "Oslo"}}}).encode(),
        [("Content-Type", "application/json"), ("X-RateLimit-Remaining", "41"),
         ("X-Upstream-Extra", "e")])
    before = credits.balance(personas.workspace)
    client.force_login(personas.member)
    response = send(client, pets, personas.app, "get:/pets/{petId}", path__petId="7")
    assert response.status_code == 200
    assert [s.path for s in upstream.seen] == ["/v1/pets/7"]
    assert upstream.seen[0].headers["x-api-key"] == CANARY  # the integration's header was sent
    text = page(response)
    this = panel(text, "get:/pets/{petId}")
    result = this[this.index('data-testid="try-result"'):]
    assert "The external API answered 200." in result
    assert '<dd data-testid="try-upstream-status">200</dd>' in result
    assert "success: true, status_code: 200" in result
    assert '<dd data-testid="try-credits">1 charged</dd>' in result
    # the body as a folding tree (the first levels open, deeper ones folded) and raw
    assert '<span class="j-key">"name"</span>: <span class="j-str">"Rex"</span>' in result
    assert '<details class="j-node" open><summary>{ 4 keys }</summary>' in result
    assert '<details class="j-node"><summary>{ 1 key }</summary>' in result  # address
    assert '"city": "Oslo"' in result  # the raw JSON
    # chosen headers shown, the others one click away
    headers = result[result.index('data-testid="try-headers"'):]
    assert "<code>x-ratelimit-remaining</code></dt><dd><code>41</code>" in headers
    assert "<code>content-type</code></dt><dd><code>application/json</code>" in headers
    assert "3 more headers" in result and "<code>x-upstream-extra</code>" in result
    # one credit, one call log row as the dashboard caller, linked from the page
    assert credits.balance(personas.workspace) == before - 1
    row = CallLog.objects.get()
    assert (row.caller_kind, row.caller_name, row.app_id, row.operation, row.credits) == (
        "dashboard", personas.member.name, personas.app.pk, "get:/pets/{petId}", 1)
    calls = reverse("calls", args=[personas.workspace.public_id])
    assert f'href="{calls}?request_id={row.request_id}"' in result
    # ... where the Calls page says who tried it
    calls_page = client.get(calls).content.decode()
    assert f"dashboard · {personas.member.name}" in calls_page
    # the SDK call with the typed value, as the app would send it
    assert ('const result = await base44.integrations.custom.call("pets", '
            '"get:/pets/{petId}", {path_params: {petId: 7}});') in text


def test_a_post_with_a_json_body_and_the_snippet_with_what_was_typed(client, personas, pets,
                                                                     upstream):
    client.force_login(personas.admin)
    response = send(client, pets, personas.app, "post:/repos/{owner}/{repo}/issues",
                    path__owner="octo", path__repo="hello world", query__state="closed",
                    payload='{"title": "Broken"}')
    assert response.status_code == 200
    seen = upstream.seen[0]
    assert (seen.method, seen.path) == ("POST", "/v1/repos/octo/hello%20world/issues?state=closed")
    assert json.loads(seen.body) == {"title": "Broken"}
    text = page(response)
    assert ('const result = await base44.integrations.custom.call("pets", '
            '"post:/repos/{owner}/{repo}/issues", {\n'
            '  path_params: {owner: "octo", repo: "hello world"},\n'
            '  query_params: {state: "closed"},\n'
            '  payload: {title: "Broken"}\n'
            '});') in text


def test_a_400_keeps_what_was_typed_and_marks_the_field_nothing_charged(client, personas, pets,
                                                                        upstream):
    before = credits.balance(personas.workspace)
    client.force_login(personas.member)
    response = send(client, pets, personas.app, "get:/pets/{petId}", path__petId="abc")
    assert response.status_code == 400
    text = page(response)
    this = panel(text, "get:/pets/{petId}")
    assert 'name="path.petId" value="abc"' in this
    assert re.search(r'<small class="error" data-testid="try-field-error">[^<]*is not of type '
                     r"'integer'", this)
    assert "Not sent: some values don't fit this operation." in this
    assert '<details class="try-box" open>' in this
    assert upstream.seen == [] and credits.balance(personas.workspace) == before
    assert CallLog.objects.get().response_status == 400  # logged like any refused SDK call


def test_json_that_does_not_parse_is_kept_and_explained_without_a_call(client, personas, pets,
                                                                       upstream):
    client.force_login(personas.member)
    response = send(client, pets, personas.app, "post:/pets", payload='{"name": "Rex",}')
    assert response.status_code == 400
    this = panel(page(response), "post:/pets")
    assert '>{"name": "Rex",}</textarea>' in this
    assert "This isn't valid JSON: Expecting property name enclosed in double quotes" in this
    assert upstream.seen == [] and not CallLog.objects.exists()


def test_configured_header_values_never_reach_the_page(client, personas, pets, upstream):
    """The echo upstream sends back every request header, the API key included."""
    client.force_login(personas.member)
    response = send(client, pets, personas.app, "get:/pets", **{"header__X-Trace": "t-1"})
    assert response.status_code == 200
    assert upstream.seen[0].headers["x-api-key"] == CANARY
    assert upstream.seen[0].headers["x-tenant"] == TENANT
    assert upstream.seen[0].headers["x-trace"] == "t-1"
    text = page(response)
    assert CANARY not in text and TENANT not in text
    assert "[hidden: a configured header value]" in text
    assert '"t-1"' in text  # the rest of the echo is shown
    client.force_login(personas.admin)  # admins see non-sensitive values; never the secret
    text = page(send(client, pets, personas.app, "get:/pets", **{"header__X-Trace": "t-2"}))
    assert CANARY not in text and TENANT in text


def test_an_image_is_shown_and_the_script_panel_comes_alone(client, personas, pets, upstream):
    upstream.routes["/v1/binary"] = lambda h: h.reply(200, PNG, [("Content-Type", "image/png")])
    client.force_login(personas.member)
    response = client.post(try_url(pets), {"operation": "get:/binary",
                                           "app": personas.app.public_id},
                           HTTP_X_TRY_IT="panel")
    assert response.status_code == 200
    text = response.content.decode()
    assert text.lstrip().startswith('<div class="try-it" id="try-6" data-try-it')
    assert "<html" not in text and "<header" not in text
    encoded = base64.b64encode(PNG).decode()
    assert f'<img class="try-image" src="data:image/png;base64,{encoded}"' in text


def test_refusals_in_plain_words(client, personas, pets, upstream, settings):
    client.force_login(personas.member)
    credits.adjust(personas.workspace, -credits.balance(personas.workspace), reason="test",
                   idempotency_key="empty")
    text = page(send(client, pets, personas.app, "get:/text"))
    assert "Not sent: no credits left for this call. Nothing was charged." in text
    assert f'href="{reverse("workspace-credits", args=[personas.workspace.public_id])}"' in text
    credits.adjust(personas.workspace, 10, reason="test", idempotency_key="refill")
    settings.PROXY_RATE_LIMIT_PER_MINUTE = 1
    assert "The external API answered 200." in page(send(client, pets, personas.app,
                                                          "get:/text"))
    text = page(send(client, pets, personas.app, "get:/text"))
    assert "Not sent: too many calls for this app right now." in text
    assert "Rate limit exceeded for this app: 1 integration calls per minute" in text
    assert len(upstream.seen) == 1


def test_an_upstream_that_cannot_be_reached_is_said_so_and_refunded(client, personas, upstream,
                                                                    egress_open):
    closed = Upstream()
    port = closed.port
    closed.close()
    egress_open.EGRESS_ALLOWED_PORTS = [*egress_open.EGRESS_ALLOWED_PORTS, port]
    integration = make_integration(personas.workspace, f"http://127.0.0.1:{port}/v1",
                                   slug="gone")
    before = credits.balance(personas.workspace)
    client.force_login(personas.member)
    text = page(send(client, integration, personas.app, "get:/text"))
    assert "Not sent: the external API couldn't be reached." in text
    assert "Failed to connect to external API: Connection refused" in text
    assert '<dd data-testid="try-credits">0 charged</dd>' in text
    assert credits.balance(personas.workspace) == before


def test_who_may_try(client, personas, pets, upstream):
    url = try_url(pets)
    data = {"operation": "get:/text", "app": personas.app.public_id}
    anonymous = client.post(url, data)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith(reverse("login"))
    client.force_login(personas.outsider)
    assert client.post(url, data).status_code == 404
    assert client.get(detail_url(pets)).status_code == 404
    # an outsider's app in the member's workspace form is no app at all
    client.force_login(personas.member)
    response = client.post(url, {"operation": "get:/text", "app": personas.outsider_app.public_id})
    assert response.status_code == 400 and "Choose the app to call as." in page(response)
    assert upstream.seen == []
    assert client.post(url, data).status_code == 200 and len(upstream.seen) == 1
    assert client.get(url).status_code == 302  # GET goes back to the page


def test_without_an_app_the_panel_says_so_and_links_to_create_one(client, personas, pets):
    App.objects.filter(workspace=personas.workspace).delete()
    client.force_login(personas.member)
    text = page(client.get(detail_url(pets)))
    apps = reverse("apps", args=[personas.workspace.public_id])
    assert "This workspace has no app yet." in text
    assert f'<a href="{apps}">Create an app</a>' in text
    assert 'data-try-form' not in text


def test_an_app_in_sandbox_mode_is_answered_from_the_spec_for_free(client, personas, pets,
                                                                   upstream):
    App.objects.filter(pk=personas.app.pk).update(sandbox_mode=True)
    before = credits.balance(personas.workspace)
    client.force_login(personas.member)
    response = send(client, pets, personas.app, "get:/pets/{petId}", path__petId="7")
    assert response.status_code == 200
    text = page(response)
    assert f'<option value="{personas.app.public_id}" selected>Storefront (sandbox mode)' in text
    assert "Sandbox: answered 200 from the spec (nothing sent, free)." in text
    assert '<dd data-testid="try-credits">0 charged</dd>' in text
    assert upstream.seen == [] and credits.balance(personas.workspace) == before
