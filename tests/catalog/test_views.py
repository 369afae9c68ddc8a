"""Dashboard pages: editor with live checks, detail rendering (sanitized), catalog tabs, review
queue and review page, query ceilings."""

from __future__ import annotations

import json

import pytest

from catalog import services
from catalog.models import CatalogIntegration
from catalog.starter import OPENAI_EXAMPLE, OPENAI_PROMPT
from tests.catalog.conftest import make_integration

pytestmark = pytest.mark.django_db


def form_data(**overrides):  # type: ignore[no-untyped-def]
    data = {
        "name": "Weather", "slug": "weather", "short_description": "Forecasts",
        "category": "data", "visibility": "private", "backend_function": "on",
        "doc_links": "https://weather.example.com/docs", "prompt": OPENAI_PROMPT,
        "secrets-TOTAL_FORMS": "2", "secrets-INITIAL_FORMS": "0",
        "secrets-MIN_NUM_FORMS": "0", "secrets-MAX_NUM_FORMS": "30",
        "secrets-0-name": "OPENAI_API_KEY", "secrets-0-description": "The key",
        "secrets-0-how_to_get": "https://platform.openai.com/account/api-keys",
        "secrets-1-name": "", "secrets-1-description": "", "secrets-1-how_to_get": "",
        "action": "save",
    }
    data.update(overrides)
    return data


def test_new_page_offers_the_outline_and_the_openai_example(client, personas):
    client.force_login(personas.member)
    ws = personas.workspace.public_id
    page = client.get(f"/w/{ws}/catalog/new/").content.decode()
    for section in ("Overview", "Environment Variables", "Backend Function", "Frontend",
                    "Usage &amp; Examples", "Research Summary &amp; Resources"):
        assert section in page
    example = client.get(f"/w/{ws}/catalog/new/?example=openai").content.decode()
    assert "api.openai.com/v1/images/generations" in example
    assert 'value="OPENAI_API_KEY"' in example
    assert "catalog/editor.js" in example


def test_create_private_integration_and_see_it_in_the_private_catalog(client, personas):
    client.force_login(personas.member)
    ws = personas.workspace.public_id
    response = client.post(f"/w/{ws}/catalog/new/", form_data())
    i = CatalogIntegration.objects.get(slug="weather")
    assert response.status_code == 302 and response.url == f"/w/{ws}/catalog/{i.public_id}/"
    assert i.required_secrets == [{"name": "OPENAI_API_KEY", "description": "The key",
                                   "how_to_get": "https://platform.openai.com/account/api-keys"}]
    assert i.doc_links == ["https://weather.example.com/docs"]
    assert i.visibility == "private" and i.created_by == personas.member
    client.force_login(personas.admin)  # a teammate sees and can use it
    page = client.get(f"/w/{ws}/catalog/?tab=private").content.decode()
    assert "Weather" in page
    assert client.get(f"/w/{ws}/catalog/{i.public_id}/").status_code == 200
    assert "Weather" not in client.get(f"/w/{ws}/catalog/").content.decode()  # not public


def test_a_failed_form_keeps_what_was_typed(client, personas):
    client.force_login(personas.member)
    ws = personas.workspace.public_id
    response = client.post(f"/w/{ws}/catalog/new/", form_data(
        slug="Not A Slug!", **{"secrets-1-name": "bad-name"}))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'value="Weather"' in page and 'value="bad-name"' in page
    assert "environment-variable style" in page
    assert not CatalogIntegration.objects.exists()


def test_duplicate_slug_is_a_slug_error(client, personas):
    make_integration(personas.workspace, personas.member, slug="weather")
    client.force_login(personas.member)
    page = client.post(f"/w/{personas.workspace.public_id}/catalog/new/",
                       form_data()).content.decode()
    assert "already has an integration with the slug" in page


def test_save_and_submit_with_check_errors_saves_but_does_not_submit(client, personas):
    client.force_login(personas.member)
    ws = personas.workspace.public_id
    response = client.post(f"/w/{ws}/catalog/new/", form_data(
        visibility="public", action="submit", **{"secrets-0-name": ""}), follow=True)
    i = CatalogIntegration.objects.get(slug="weather")
    assert i.state == "draft"
    page = response.content.decode()
    assert "Not submitted" in page and "OPENAI_API_KEY" in page


def test_save_and_submit(client, personas, reviewer):
    client.force_login(personas.member)
    ws = personas.workspace.public_id
    response = client.post(f"/w/{ws}/catalog/new/", form_data(visibility="public",
                                                              action="submit"), follow=True)
    assert "Submitted for review" in response.content.decode()
    assert CatalogIntegration.objects.get(slug="weather").state == "submitted"


def test_live_check_endpoint(client, personas):
    client.force_login(personas.member)
    response = client.post("/catalog/check/", form_data(**{"secrets-0-name": ""}))
    data = response.json()
    assert response.status_code == 200 and data["ok"] is False
    assert {e["code"] for e in data["errors"]} == {"env_not_declared", "env_read_not_declared"}
    assert data["env_block"][0]["name"] == "OPENAI_API_KEY"
    assert client.post("/catalog/check/", form_data()).json()["ok"] is True
    assert client.get("/catalog/check/").status_code == 405


def test_check_endpoint_needs_login_and_csrf(client, personas):
    assert client.post("/catalog/check/", form_data()).status_code == 302
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(personas.member)
    assert strict.post("/catalog/check/", form_data()).status_code == 403


def test_prompt_renders_as_sanitized_markdown(client, personas):
    evil = OPENAI_PROMPT + (
        '\n<script>window.__pwned = 1</script>\n'
        '<img src="x" onerror="window.__pwned = 2">\n'
        '[click](javascript:alert(1))\n'
        '<a href="https://ok.example.com" onclick="steal()">ok</a>\n')
    i = make_integration(personas.workspace, personas.member, visibility="private", prompt=evil)
    client.force_login(personas.member)
    page = client.get(f"/w/{personas.workspace.public_id}/catalog/{i.public_id}/")
    html = page.content.decode()
    rendered = html.split('data-testid="rendered-prompt">', 1)[1].split("</section>", 1)[0]
    assert "<script" not in rendered and "onerror" not in rendered
    assert "onclick" not in rendered and "javascript:" not in rendered
    assert "<h1>OpenAI Text to Image Integration</h1>" in rendered
    assert '<code class="language-ts">' in rendered
    assert 'rel="noopener noreferrer nofollow"' in rendered


def test_edit_page_prefills_and_updates_in_place(client, personas):
    i = make_integration(personas.workspace, personas.member, visibility="private")
    client.force_login(personas.member)
    url = f"/w/{personas.workspace.public_id}/catalog/{i.public_id}/edit/"
    page = client.get(url).content.decode()
    assert 'value="OPENAI_API_KEY"' in page and 'value="openai-text-to-image"' in page
    response = client.post(url, form_data(slug="openai-text-to-image", name="Renamed"))
    assert response.status_code == 302
    i.refresh_from_db()
    assert i.name == "Renamed" and i.state == "draft" and not i.revisions.exists()


def test_in_review_integrations_cannot_be_edited(client, submitted, personas):
    client.force_login(personas.member)
    url = f"/w/{personas.workspace.public_id}/catalog/{submitted.integration.public_id}/edit/"
    response = client.post(url, form_data(name="Sneaky"))
    assert response.status_code == 302
    submitted.integration.refresh_from_db()
    assert submitted.integration.name != "Sneaky"


def test_my_integrations_lists_visibility_and_state(client, personas, submitted):
    make_integration(personas.workspace, personas.member, slug="private-one", name="Private one",
                     visibility="private")
    make_integration(personas.workspace, personas.admin, slug="admins", name="Admin's one")
    client.force_login(personas.member)
    page = client.get(f"/w/{personas.workspace.public_id}/catalog/mine/").content.decode()
    table = page.split('data-testid="my-integrations"', 1)[1]
    assert "OpenAI Text to Image" in table and "Private one" in table
    assert "Admin&#x27;s one" not in table and "Admin's one" not in table
    assert "In review" in table and "not reviewed" in table


def test_public_catalog_shows_approved_integrations_to_everyone(client, approved, personas):
    client.force_login(personas.outsider)
    ws = personas.outsider_workspace.public_id
    page = client.get(f"/w/{ws}/catalog/").content.decode()
    assert "OpenAI Text to Image" in page
    detail = client.get(f"/w/{ws}/catalog/{approved.public_id}/").content.decode()
    assert "Use this integration" in detail and "History" not in detail
    assert client.get(f"/w/{ws}/catalog/{approved.public_id}/edit/").status_code == 404
    filtered = client.get(f"/w/{ws}/catalog/?category=payments").content.decode()
    assert "OpenAI Text to Image" not in filtered
    assert "OpenAI Text to Image" in client.get(f"/w/{ws}/catalog/?q=openai").content.decode()


def test_review_queue_oldest_first_with_filters(client, personas, reviewer):
    first = make_integration(personas.workspace, personas.member, slug="first", name="First",
                             category="ai")
    second = make_integration(personas.workspace, personas.member, slug="second",
                              name="Second", category="payments")
    services.submit_for_review(first, actor=personas.member)
    services.submit_for_review(second, actor=personas.member)
    client.force_login(reviewer)
    page = client.get("/catalog/review/").content.decode()
    assert page.index(">First<") < page.index(">Second<")
    only = client.get("/catalog/review/?category=payments").content.decode()
    assert ">Second<" in only and ">First<" not in only
    assert ">First<" in client.get("/catalog/review/?q=fir").content.decode()
    assert ">First<" not in client.get("/catalog/review/?kind=update").content.decode()
    assert ">First<" in client.get("/catalog/review/?kind=new").content.decode()
    assert ">First<" not in client.get("/catalog/review/?status=decided").content.decode()


def test_review_page_decides_and_requires_a_comment(client, submitted, reviewer):
    client.force_login(reviewer)
    url = f"/catalog/review/{submitted.pk}/"
    page = client.get(url).content.decode()
    assert "Record decision" in page and "OpenAI Text to Image" in page
    response = client.post(url, {"decision": "reject", "comment": ""})
    assert response.status_code == 400
    assert "Explain the decision" in response.content.decode()
    response = client.post(url, {"decision": "reject", "comment": "Too vague"})
    assert response.status_code == 302
    submitted.refresh_from_db()
    assert submitted.status == "rejected"
    assert "Record decision" not in client.get(url).content.decode()


def test_review_page_refuses_self_review(client, personas):
    personas.member.is_staff = True
    personas.member.save()
    i = make_integration(personas.workspace, personas.member)
    revision = services.submit_for_review(i, actor=personas.member)
    client.force_login(personas.member)
    url = f"/catalog/review/{revision.pk}/"
    page = client.get(url).content.decode()
    assert "can&#x27;t review your own submission" in page and "Record decision" not in page
    response = client.post(url, {"decision": "approve", "comment": ""})
    assert response.status_code == 403
    revision.refresh_from_db()
    assert revision.status == "submitted"


def test_review_page_shows_a_diff_for_a_revision(client, approved, personas, reviewer):
    services.update_integration(approved, actor=personas.member, data={
        "prompt": approved.prompt.replace("dall-e-3", "gpt-image-1"),
        "short_description": "Now with gpt-image-1"})
    revision = services.submit_for_review(approved, actor=personas.member)
    client.force_login(reviewer)
    page = client.get(f"/catalog/review/{revision.pk}/").content.decode()
    diff = page.split('data-testid="diff"', 1)[1].split("</section>", 1)[0]
    assert '<div class="del">-      model: &quot;dall-e-3&quot;,</div>' in diff
    assert '<div class="add">+      model: &quot;gpt-image-1&quot;,</div>' in diff
    assert "Short description" in diff and "Required secrets" not in diff
    assert "Update" in client.get("/catalog/review/").content.decode()


def test_list_pages_have_query_ceilings(client, personas, reviewer, django_assert_max_num_queries):
    for n in range(8):
        i = make_integration(personas.workspace, personas.member, slug=f"i{n}", name=f"I{n}")
        services.approve_submission(services.submit_for_review(i, actor=personas.member),
                                    actor=reviewer)
    client.force_login(personas.member)
    ws = personas.workspace.public_id
    for url in (f"/w/{ws}/catalog/", f"/w/{ws}/catalog/?tab=private", f"/w/{ws}/catalog/mine/",
                "/notifications/"):
        with django_assert_max_num_queries(12):
            assert client.get(url).status_code == 200
    client.force_login(reviewer)
    with django_assert_max_num_queries(12):
        assert client.get("/catalog/review/?status=all").status_code == 200


def test_the_example_in_the_editor_round_trips_through_the_form(client, personas):
    client.force_login(personas.member)
    ws = personas.workspace.public_id
    data = form_data(name=OPENAI_EXAMPLE["name"], slug=OPENAI_EXAMPLE["slug"],
                     doc_links="\n".join(OPENAI_EXAMPLE["doc_links"]), category="ai")
    client.post(f"/w/{ws}/catalog/new/", data)
    i = CatalogIntegration.objects.get()
    assert services.check(i).ok
    assert json.dumps(i.required_secrets)


def test_a_resubmission_shows_what_changed_since_the_revision_sent_back(client, submitted,
                                                                         personas, reviewer):
    services.request_changes(submitted, actor=reviewer, comment="Say which model it uses")
    integration = submitted.integration
    services.update_integration(integration, actor=personas.member, data={
        "short_description": "Images with DALL·E 3"})
    revision = services.submit_for_review(integration, actor=personas.member)
    client.force_login(reviewer)
    page = client.get(f"/catalog/review/{revision.pk}/").content.decode()
    diff = page.split('data-testid="diff"', 1)[1].split("</section>", 1)[0]
    assert "Changes since revision 1 (changes requested)" in diff
    assert "Say which model it uses" in diff
    assert '<div class="add">+Images with DALL·E 3</div>' in diff
    assert "Prompt" not in diff
    # a first submission has nothing to compare with
    first = make_integration(personas.workspace, personas.member, slug="first")
    r = services.submit_for_review(first, actor=personas.member)
    assert 'data-testid="diff"' not in client.get(f"/catalog/review/{r.pk}/").content.decode()


def test_app_detail_links_to_the_apps_catalog_integrations(client, personas):
    client.force_login(personas.member)
    ws, app = personas.workspace.public_id, personas.app.public_id
    page = client.get(f"/w/{ws}/apps/{app}/").content.decode()
    assert (f'href="/w/{ws}/apps/{app}/integrations/" '
            'data-testid="app-catalog-integrations-link"') in page
