"""Security issue 12, the "Low" items in the catalog: slug races, reviewers who just left the
workspace, GETs that change state, and control characters in integration names."""

from __future__ import annotations

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from catalog import services
from catalog.models import CatalogIntegration, Notification
from tests.catalog.conftest import content, make_integration
from tests.factories import UserFactory, add_member
from workspaces import credits
from workspaces import services as ws_services
from workspaces.models import CreditEntry, Membership, Role
from workspaces.services import ServiceError

pytestmark = pytest.mark.django_db

TAKEN = "This workspace already has an integration with the slug “weather”."


# --- 1. two creates with one slug ------------------------------------------------------------


def test_a_create_that_loses_the_slug_race_gets_the_409_not_a_500(api, personas, monkeypatch):
    """The row appears between the check and the insert (what a concurrent create does):
    the check says "free", the insert hits the unique index."""
    CatalogIntegration.objects.create(workspace=personas.workspace, created_by=personas.owner,
                                      **services.clean_content(content(slug="weather")))
    monkeypatch.setattr(services, "_slug_taken", lambda *args, **kwargs: False)
    response = api(personas.member).post(
        f"/api/v1/workspaces/{personas.workspace.public_id}/catalog/integrations/",
        {**content(slug="weather"), "visibility": "private"}, format="json")
    assert response.status_code == 409, response.content  # the slug is taken: a conflict
    assert response.json()["detail"] == TAKEN
    assert CatalogIntegration.objects.filter(workspace=personas.workspace,
                                             slug="weather").count() == 1


def test_a_rename_that_loses_the_slug_race_is_a_form_error(client, personas, monkeypatch):
    mine = make_integration(personas.workspace, personas.member, slug="mine")
    make_integration(personas.workspace, personas.owner, slug="weather")
    monkeypatch.setattr(services, "_slug_taken", lambda *args, **kwargs: False)
    with pytest.raises(ServiceError) as exc:
        services.update_integration(mine, actor=personas.member, data={"slug": "weather"})
    assert exc.value.message == TAKEN and exc.value.code == "duplicate"


@pytest.mark.postgres
def test_two_concurrent_creates_with_one_slug_make_one_integration(transactional_db, personas,
                                                                   monkeypatch):
    barrier = threading.Barrier(2, timeout=5)
    real = services._slug_taken

    def after_both_checked(*args, **kwargs):  # type: ignore[no-untyped-def]
        taken = real(*args, **kwargs)
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        return taken

    monkeypatch.setattr(services, "_slug_taken", after_both_checked)
    outcomes: list[str] = []

    def attempt(n: int) -> None:
        try:
            make_integration(personas.workspace, personas.member, slug="weather",
                             name=f"Racer {n}")
            outcomes.append("created")
        except ServiceError as exc:
            outcomes.append(exc.message)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == sorted(["created", TAKEN])
    assert CatalogIntegration.objects.filter(slug="weather").count() == 1


# --- 3. a reviewer who just left the workspace -----------------------------------------------


def _awards(integration: CatalogIntegration):  # type: ignore[no-untyped-def]
    return CreditEntry.objects.filter(idempotency_key=f"catalog-award:{integration.public_id}")


@pytest.mark.parametrize("how", ["left", "removed"])
def test_a_reviewer_who_just_left_cannot_approve_until_30_days_later(client, personas,
                                                                    integration, how):
    staff = UserFactory(email="insider@example.com", is_staff=True)
    membership = add_member(personas.workspace, staff, Role.MEMBER)
    ws_services.remove_member(membership, actor=staff if how == "left" else personas.owner)
    assert not Membership.objects.filter(workspace=personas.workspace, user=staff).exists()
    revision = services.submit_for_review(integration, actor=personas.member)
    assert staff not in services.reviewers_for(revision)  # not even asked to review
    balance = credits.balance(personas.workspace)

    client.force_login(staff)
    response = client.post(f"/catalog/review/{revision.pk}/",
                           {"decision": "approve", "comment": "lgtm"})
    assert response.status_code in (200, 403)
    assert "belonged to the workspace" in response.content.decode()
    with pytest.raises(ServiceError) as exc:
        services.approve_submission(revision, actor=staff)
    assert exc.value.code == "forbidden"
    revision.refresh_from_db()
    assert revision.status == "submitted"
    assert not _awards(integration).exists()
    assert credits.balance(personas.workspace) == balance

    later = timezone.now() + timedelta(days=30, minutes=1)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert staff in services.reviewers_for(revision)
        services.approve_submission(revision, actor=staff, comment="lgtm")
    assert _awards(integration).get().amount == 250
    assert credits.balance(personas.workspace) == balance + 250


def test_a_reviewer_who_left_29_days_ago_is_still_refused(personas, integration):
    staff = UserFactory(email="insider@example.com", is_staff=True)
    membership = add_member(personas.workspace, staff, Role.MEMBER)
    ws_services.remove_member(membership, actor=staff)
    revision = services.submit_for_review(integration, actor=personas.member)
    with mock.patch("django.utils.timezone.now",
                    return_value=timezone.now() + timedelta(days=29)):
        assert services.review_refusal(staff, revision)


# --- 5. a GET never marks a notification read --------------------------------------------------


def test_opening_a_notification_by_get_leaves_it_unread(client, submitted, reviewer, personas):
    services.reject_submission(submitted, actor=reviewer, comment="Not yet")
    n = Notification.objects.get(recipient=personas.member)
    client.force_login(personas.member)
    response = client.get(f"/notifications/{n.pk}/")
    assert response.status_code in (302, 405)
    n.refresh_from_db()
    assert n.read_at is None
    page = client.get("/notifications/").content.decode()
    assert 'data-testid="unread-count">1<' in page
    # the list opens it with a CSRF-protected POST
    assert f'action="/notifications/{n.pk}/"' in page and "csrfmiddlewaretoken" in page
    response = client.post(f"/notifications/{n.pk}/")
    assert response.status_code == 302
    assert response.url == services.integration_url(submitted.integration)
    n.refresh_from_db()
    assert n.read_at is not None


def test_opening_someone_elses_notification_by_post_is_a_404(client, submitted, personas):
    n = Notification.objects.filter(kind="submitted").first()
    client.force_login(personas.outsider)
    assert client.post(f"/notifications/{n.pk}/").status_code == 404
    n.refresh_from_db()
    assert n.read_at is None


def test_marking_read_needs_csrf(client, submitted, reviewer, personas):
    from django.test import Client

    services.reject_submission(submitted, actor=reviewer, comment="Not yet")
    n = Notification.objects.get(recipient=personas.member)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(personas.member)
    assert strict.post(f"/notifications/{n.pk}/").status_code == 403
    assert strict.post("/notifications/").status_code == 403
    n.refresh_from_db()
    assert n.read_at is None


# --- 8. control characters in names ------------------------------------------------------------


def test_integration_names_refuse_bidi_and_control_characters(client, api, personas):
    from tests.catalog.test_views import form_data

    client.force_login(personas.member)
    ws = personas.workspace.public_id
    response = client.post(f"/w/{ws}/catalog/new/", form_data(name="Weather\u202egnp.exe"))
    page = response.content.decode()
    assert response.status_code == 200
    assert "invisible or control characters" in page
    assert 'value="weather"' in page  # what was typed is kept
    response = api(personas.member).post(
        f"/api/v1/workspaces/{ws}/catalog/integrations/",
        {**content(name="Bad\x1bname"), "visibility": "private"}, format="json")
    assert response.status_code == 400
    assert "invisible or control characters" in response.json()["detail"]
    assert not CatalogIntegration.objects.exists()
    mine = make_integration(personas.workspace, personas.member, slug="ok")
    with pytest.raises(ServiceError):
        services.update_integration(mine, actor=personas.member, data={"name": "Ok\u2069"})
