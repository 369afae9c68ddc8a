"""The admin API end to end: create, check, submit, review, public catalog, notifications."""

from __future__ import annotations

import pytest

from catalog.models import CatalogIntegration
from tests.catalog.conftest import content

pytestmark = pytest.mark.django_db


def test_create_submit_review_and_publish_through_the_api(api, personas, reviewer):
    ws = personas.workspace.public_id
    author = api(personas.member)
    response = author.post(f"/api/v1/workspaces/{ws}/catalog/integrations/",
                           {**content(), "visibility": "public"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "draft" and body["visibility"] == "public"
    assert body["required_secrets"][0]["name"] == "OPENAI_API_KEY"
    iid = body["id"]

    bad = author.patch(f"/api/v1/workspaces/{ws}/catalog/integrations/{iid}/",
                       {"required_secrets": []}, format="json")
    assert bad.status_code == 200
    refused = author.post(f"/api/v1/workspaces/{ws}/catalog/integrations/{iid}/submit/")
    assert refused.status_code == 400 and refused.json()["code"] == "checks_failed"
    assert {e["code"] for e in refused.json()["checks"]["errors"]} == {
        "env_not_declared", "env_read_not_declared"}
    author.patch(f"/api/v1/workspaces/{ws}/catalog/integrations/{iid}/",
                 {"required_secrets": content()["required_secrets"]}, format="json")
    submitted = author.post(f"/api/v1/workspaces/{ws}/catalog/integrations/{iid}/submit/")
    assert submitted.status_code == 201 and submitted.json()["status"] == "submitted"
    revision_id = submitted.json()["id"]

    queue = api(reviewer).get("/api/v1/catalog/reviews/").json()["results"]
    assert [r["id"] for r in queue] == [revision_id]
    no_comment = api(reviewer).post(f"/api/v1/catalog/reviews/{revision_id}/decision/",
                                    {"decision": "request_changes"}, format="json")
    assert no_comment.status_code == 400 and no_comment.json()["code"] == "comment_required"
    approved = api(reviewer).post(f"/api/v1/catalog/reviews/{revision_id}/decision/",
                                  {"decision": "approve", "comment": "ok"}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    again = api(reviewer).post(f"/api/v1/catalog/reviews/{revision_id}/decision/",
                               {"decision": "approve"}, format="json")
    assert again.status_code == 400 and again.json()["code"] == "already_decided"

    public = api(personas.outsider).get("/api/v1/catalog/integrations/").json()
    assert [r["id"] for r in public["results"]] == [iid]
    notes = author.get("/api/v1/notifications/").json()["results"]
    assert [n["kind"] for n in notes] == ["approved"]
    assert author.post("/api/v1/notifications/read/", {}, format="json").status_code == 204
    assert author.get("/api/v1/notifications/").json()["results"][0]["read_at"]
    credits = author.get(f"/api/v1/workspaces/{ws}/credits/").json()
    assert credits["balance"] == 2250
    assert CatalogIntegration.objects.get(public_id=iid).award_entry is not None


def test_api_validation_errors(api, personas):
    ws = personas.workspace.public_id
    response = api(personas.member).post(
        f"/api/v1/workspaces/{ws}/catalog/integrations/",
        {**content(required_secrets=[{"name": "bad-name"}], doc_links=["nope"])}, format="json")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "required_secrets" in errors and "doc_links" in errors


def test_api_checks_endpoint(api, personas):
    response = api(personas.member).post("/api/v1/catalog/checks/", {
        "prompt": content()["prompt"], "required_secrets": content()["required_secrets"],
        "doc_links": content()["doc_links"]}, format="json")
    assert response.json()["ok"] is True and response.json()["errors"] == []


def test_api_refuses_the_secret_declarations_the_editor_form_refuses(api, personas):
    """One rule for the form, the API and the checks: a Custom API name or a malformed "where
    to get it" link is a 400 through the API too, not a saved integration."""
    url = f"/api/v1/workspaces/{personas.workspace.public_id}/catalog/integrations/"
    for secret, field in [({"name": "CUSTOM_API_BILLING"}, "name"),
                          ({"name": "OPENAI_API_KEY", "how_to_get": "https://"}, "how_to_get")]:
        response = api(personas.member).post(
            url, {**content(required_secrets=[secret]), "visibility": "private"}, format="json")
        assert response.status_code == 400, response.json()
        assert field in str(response.json()["errors"]["required_secrets"])
    assert not CatalogIntegration.objects.exists()


def test_public_catalog_api_searches_like_the_dashboard(api, client, approved, personas):
    """`q` matches the name, the short description and the slug, as the catalog page does."""
    client.force_login(personas.outsider)
    api_client = api(personas.outsider)
    for q in ("openai text", "DALL", "text-to-image"):
        results = api_client.get("/api/v1/catalog/integrations/", {"q": q}).json()["results"]
        assert [r["id"] for r in results] == [approved.public_id], q
        page = client.get(f"/w/{personas.outsider_workspace.public_id}/catalog/",
                          {"q": q}).content.decode()
        assert approved.public_id in page, q
    assert api_client.get("/api/v1/catalog/integrations/",
                          {"q": "nothing-like-it"}).json()["results"] == []
    assert api_client.get("/api/v1/catalog/integrations/",
                          {"category": "payments"}).json()["results"] == []


def test_marking_notifications_read_never_touches_someone_elses(api, submitted, reviewer,
                                                                personas):
    from catalog.models import Notification

    note = Notification.objects.get(recipient=reviewer)
    response = api(personas.outsider).post("/api/v1/notifications/read/", {"ids": [note.pk]},
                                           format="json")
    assert response.status_code == 204
    assert api(personas.outsider).get("/api/v1/notifications/").json()["results"] == []
    note.refresh_from_db()
    assert note.read_at is None
    assert api(None).post("/api/v1/notifications/read/", {}, format="json").status_code == 401
