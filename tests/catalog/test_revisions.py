"""Re-review of an edited approved integration: the approved revision keeps serving the public
catalog, other workspaces' apps and the service-role API until the new revision is approved."""

from __future__ import annotations

import pytest

from catalog import services
from tests.catalog.conftest import make_integration

pytestmark = pytest.mark.django_db


def public_prompt(api, user, integration) -> str:  # type: ignore[no-untyped-def]
    return api(user).get(f"/api/v1/catalog/integrations/{integration.public_id}/").json()[
        "prompt"]


def test_live_revision_keeps_serving_while_the_edit_is_in_review(approved, personas, reviewer2,
                                                                 api, sdk, client):
    services.install_integration(personas.outsider_app, approved, actor=personas.outsider,
                                 values={"OPENAI_API_KEY": "sk-x"})
    old_prompt = approved.prompt
    new_prompt = old_prompt.replace("dall-e-3", "gpt-image-1")
    services.update_integration(approved, actor=personas.member,
                                data={"prompt": new_prompt, "name": "OpenAI Images v2"})
    revision = services.submit_for_review(approved, actor=personas.member)
    assert revision.number == 2 and revision.based_on == approved.live_revision
    approved.refresh_from_db()
    assert approved.state == "submitted" and approved.live_revision.number == 1

    # everyone else still gets revision 1
    assert public_prompt(api, personas.outsider, approved) == old_prompt
    listed = api(personas.outsider).get("/api/v1/catalog/integrations/").json()["results"]
    assert [(r["name"], r["revision"]) for r in listed] == [("OpenAI Text to Image", 1)]
    [item] = sdk(personas.outsider_app).get(
        f"/api/apps/{personas.outsider_app.public_id}/catalog-integrations").json()
    assert item["prompt"] == old_prompt and item["name"] == "OpenAI Text to Image"
    client.force_login(personas.outsider)
    page = client.get(f"/w/{personas.outsider_workspace.public_id}/catalog/"
                      f"{approved.public_id}/").content.decode()
    assert "dall-e-3" in page and "gpt-image-1" not in page
    # the authors' workspace works with its working copy
    client.force_login(personas.member)
    page = client.get(f"/w/{personas.workspace.public_id}/catalog/"
                      f"{approved.public_id}/").content.decode()
    assert "gpt-image-1" in page and "In review" in page

    # a rejection of the update leaves revision 1 live
    services.reject_submission(revision, actor=reviewer2, comment="Model name is wrong")
    assert public_prompt(api, personas.outsider, approved) == old_prompt

    # edited again, approved: now everyone gets revision 3
    services.update_integration(approved, actor=personas.member,
                                data={"short_description": "Images via gpt-image-1"})
    revision3 = services.submit_for_review(approved, actor=personas.member)
    services.approve_submission(revision3, actor=reviewer2)
    assert public_prompt(api, personas.outsider, approved) == new_prompt
    [item] = sdk(personas.outsider_app).get(
        f"/api/apps/{personas.outsider_app.public_id}/catalog-integrations").json()
    assert item["name"] == "OpenAI Images v2"


def test_editing_an_approved_integration_without_submitting_changes_nothing_public(
        approved, personas, api):
    services.update_integration(approved, actor=personas.member, data={"name": "Draft name"})
    listed = api(personas.outsider).get("/api/v1/catalog/integrations/").json()["results"]
    assert listed[0]["name"] == "OpenAI Text to Image"


def test_private_edits_apply_in_place_for_teammates(personas, sdk):
    private = make_integration(personas.workspace, personas.member, visibility="private")
    services.install_integration(personas.app, private, actor=personas.owner, values={})
    services.update_integration(private, actor=personas.member, data={"name": "Renamed"})
    [item] = sdk(personas.app).get(
        f"/api/apps/{personas.app.public_id}/catalog-integrations").json()
    assert item["name"] == "Renamed"


def test_plan_gate_builder_or_higher(client, api, personas):
    from workspaces import services as ws_services

    ws_services.change_plan(personas.workspace, actor=personas.owner, plan="free")
    client.force_login(personas.member)
    page = client.get(f"/w/{personas.workspace.public_id}/catalog/new/").content.decode()
    assert "needs the Builder plan" in page
    from tests.catalog.test_views import form_data

    page = client.post(f"/w/{personas.workspace.public_id}/catalog/new/",
                       form_data()).content.decode()
    assert "needs the Builder plan" in page
    from tests.catalog.conftest import content

    response = api(personas.member).post(
        f"/api/v1/workspaces/{personas.workspace.public_id}/catalog/integrations/",
        {**content(), "visibility": "private"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "plan_required"


def test_installed_apps_follow_the_live_revision_and_show_a_new_secret_as_missing(
        approved, personas, reviewer2, sdk, client):
    """An app in another workspace uses the approved integration. An update that needs a
    second secret changes nothing for the app while it is in review; once approved, the app's
    page and its backend see the new prompt and the new variable as missing, and the app's
    existing value stays where it was."""
    app = personas.outsider_app
    services.install_integration(app, approved, actor=personas.outsider,
                                 values={"OPENAI_API_KEY": "sk-outsider-value"})
    secrets = approved.required_secrets + [{"name": "OPENAI_ORG_ID", "description": "Org",
                                            "how_to_get": "https://platform.openai.com/org"}]
    prompt = approved.prompt.replace(
        '"how_to_get": "https://platform.openai.com/account/api-keys"\n  }',
        '"how_to_get": "https://platform.openai.com/account/api-keys"\n  },\n'
        '  {"name": "OPENAI_ORG_ID", "description": "Org", '
        '"how_to_get": "https://platform.openai.com/org"}').replace(
        'const OPENAI_API_KEY = Deno.env.get("OPENAI_API_KEY");',
        'const OPENAI_API_KEY = Deno.env.get("OPENAI_API_KEY");\n'
        '  const ORG = Deno.env.get("OPENAI_ORG_ID");')
    services.update_integration(approved, actor=personas.member,
                                data={"required_secrets": secrets, "prompt": prompt})
    assert services.check(approved).ok, services.check(approved).errors
    revision = services.submit_for_review(approved, actor=personas.member)
    url = f"/api/apps/{app.public_id}/catalog-integrations"

    def variables():  # type: ignore[no-untyped-def]
        [item] = sdk(app).get(url).json()
        return [(v["name"], v["is_set"]) for v in item["variables"]], item["prompt"]

    assert variables() == ([("OPENAI_API_KEY", True)], approved.live_revision.prompt)
    services.approve_submission(revision, actor=reviewer2)
    assert variables() == ([("OPENAI_API_KEY", True), ("OPENAI_ORG_ID", False)], prompt)
    client.force_login(personas.outsider)
    page = client.get(f"/w/{personas.outsider_workspace.public_id}/apps/{app.public_id}/"
                      "integrations/").content.decode()
    section = page.split('data-testid="installed-openai-text-to-image"', 1)[1]
    assert "OPENAI_ORG_ID" in section
    assert section.count('data-testid="secret-status">set<') == 1
    assert section.count('data-testid="secret-status">missing<') == 1
    # Offering the new key: the existing value can be kept, only the new one is asked for.
    use = client.get(f"/w/{personas.outsider_workspace.public_id}/catalog/"
                     f"{approved.public_id}/use/?app={app.public_id}").content.decode()
    assert 'name="reuse__OPENAI_API_KEY"' in use and 'name="reuse__OPENAI_ORG_ID"' not in use
    assert "sk-outsider-value" not in use and "sk-outsider-value" not in page
