"""The first approval of a public integration awards CATALOG_FIRST_APPROVAL_CREDITS to its
workspace exactly once: retried approvals, later revisions and concurrent reviewers included."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from django.conf import settings
from django.db import connection

from catalog import services
from catalog.models import CatalogIntegration
from tests.catalog.conftest import make_integration
from tests.factories import UserFactory
from workspaces import credits
from workspaces.models import CreditEntry
from workspaces.services import ServiceError


def awards(integration: CatalogIntegration):  # type: ignore[no-untyped-def]
    return CreditEntry.objects.filter(idempotency_key=f"catalog-award:{integration.public_id}")


@pytest.mark.django_db
def test_first_approval_awards_250_to_the_workspace_with_a_link(approved, personas, settings,
                                                                client):
    assert settings.CATALOG_FIRST_APPROVAL_CREDITS == 250
    entry = awards(approved).get()
    assert entry.workspace == personas.workspace and entry.amount == 250
    assert entry.kind == "award"
    assert entry.reference_url == f"/w/{personas.workspace.public_id}/catalog/" \
                                  f"{approved.public_id}/"
    assert credits.balance(personas.workspace) == 2000 + 250
    assert approved.award_entry == entry and approved.first_approved_at is not None
    client.force_login(personas.member)
    page = client.get(f"/w/{personas.workspace.public_id}/credits/").content.decode()
    assert f'href="{entry.reference_url}"' in page and "OpenAI Text to Image" in page


@pytest.mark.django_db
def test_award_setting_is_used(personas, reviewer, settings):
    settings.CATALOG_FIRST_APPROVAL_CREDITS = 40
    i = make_integration(personas.workspace, personas.member)
    services.approve_submission(services.submit_for_review(i, actor=personas.member),
                                actor=reviewer)
    assert awards(i).get().amount == 40


@pytest.mark.django_db
def test_retried_approval_and_retried_award_do_not_pay_twice(approved, reviewer):
    with pytest.raises(ServiceError):
        services.approve_submission(approved.live_revision, actor=reviewer)
    services.award_first_approval(approved, actor=reviewer)
    services.award_first_approval(approved, actor=reviewer)
    assert awards(approved).count() == 1
    assert credits.balance(approved.workspace) == 2250


@pytest.mark.django_db
def test_a_later_approved_revision_does_not_pay_again(approved, personas, reviewer2):
    services.update_integration(approved, actor=personas.member, data={"name": "Renamed"})
    revision = services.submit_for_review(approved, actor=personas.member)
    services.approve_submission(revision, actor=reviewer2)
    approved.refresh_from_db()
    assert approved.live_revision == revision
    assert awards(approved).count() == 1
    assert credits.balance(personas.workspace) == 2250


@pytest.mark.django_db
def test_rejection_and_private_integrations_never_award(personas, reviewer):
    i = make_integration(personas.workspace, personas.member)
    services.reject_submission(services.submit_for_review(i, actor=personas.member),
                               actor=reviewer, comment="No")
    assert services.award_first_approval(i, actor=reviewer) is None
    private = make_integration(personas.workspace, personas.member, slug="p",
                               visibility="private")
    assert services.award_first_approval(private, actor=reviewer) is None
    assert not CreditEntry.objects.filter(kind="award").exists()


@pytest.mark.django_db
def test_each_integration_is_awarded_once(personas, reviewer):
    for slug in ("one", "two"):
        i = make_integration(personas.workspace, personas.member, slug=slug)
        services.approve_submission(services.submit_for_review(i, actor=personas.member),
                                    actor=reviewer)
    assert CreditEntry.objects.filter(kind="award").count() == 2
    assert credits.balance(personas.workspace) == 2500


def run_together(count: int, target) -> list:  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def body(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[n] = target(n)
        except Exception as exc:  # noqa: BLE001
            results[n] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(n,)) for n in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_award_exactly_once(personas, monkeypatch):
    """Four reviewers approve the same submission at the same moment: one decision wins, the
    others are told it is already decided, and the ledger has exactly one award."""
    integration = make_integration(personas.workspace, personas.member)
    revision = services.submit_for_review(integration, actor=personas.member)
    reviewers = [UserFactory(email=f"rev{n}@example.com", is_staff=True) for n in range(4)]
    real_award = credits.award

    def slow_award(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.2)  # widen the window in which a second approval could slip in
        return real_award(*args, **kwargs)

    monkeypatch.setattr(services.credits, "award", slow_award)
    results = run_together(4, lambda n: services.approve_submission(revision,
                                                                    actor=reviewers[n]))
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, ServiceError)]
    assert len(wins) == 1 and len(losses) == 3, results
    assert all(e.code == "already_decided" for e in losses)
    assert awards(integration).count() == 1
    assert CreditEntry.objects.filter(workspace=personas.workspace, kind="award").count() == 1
    assert credits.balance(personas.workspace) == 2250
    assert integration.transitions.filter(action="approve").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_award_calls_award_exactly_once(personas, reviewer):
    integration = make_integration(personas.workspace, personas.member)
    services.approve_submission(services.submit_for_review(integration, actor=personas.member),
                                actor=reviewer)
    CatalogIntegration.objects.filter(pk=integration.pk).update(award_entry=None)
    CreditEntry.objects.filter(kind="award").delete()  # as if the award had not happened yet
    results = run_together(6, lambda n: services.award_first_approval(
        CatalogIntegration.objects.get(pk=integration.pk), actor=reviewer))
    assert not [r for r in results if isinstance(r, Exception)], results
    assert len({r.pk for r in results}) == 1
    assert awards(integration).count() == 1


CONCURRENT_APPROVER = textwrap.dedent("""
    # One reviewer in its own process (own database connection): wait for the start signal,
    # approve, print the outcome.
    import os, sys, time, django
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    django.setup()
    from catalog import services
    from catalog.models import IntegrationRevision
    from workspaces import credits
    from workspaces.models import User
    from workspaces.services import ServiceError
    revision_id, reviewer_id, ready, go = sys.argv[1:5]
    revision = IntegrationRevision.objects.get(pk=revision_id)
    actor = User.objects.get(pk=reviewer_id)
    real_award = credits.award

    def slow_award(*args, **kwargs):
        time.sleep(0.2)  # widen the window in which the other approval could slip in
        return real_award(*args, **kwargs)

    credits.award = slow_award
    open(ready, "w").close()
    while not os.path.exists(go):
        time.sleep(0.002)
    try:
        services.approve_submission(revision, actor=actor, comment="ok")
        print("approved", flush=True)
    except ServiceError as exc:
        print(exc.code, flush=True)
""")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_reviewer_processes_approving_at_once_award_exactly_once(personas, tmp_path):
    """Two reviewers, each in a separate OS process with its own PostgreSQL connection, approve
    the same submission at the same moment: one approval, one "already decided", one award."""
    integration = make_integration(personas.workspace, personas.member)
    revision = services.submit_for_review(integration, actor=personas.member)
    reviewers = [UserFactory(email=f"proc{n}@example.com", is_staff=True) for n in range(2)]
    db = settings.DATABASES["default"]
    env = {**os.environ, "DATABASE_URL": (
        f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{connection.settings_dict['NAME']}")}
    go = tmp_path / "go"
    ready = [tmp_path / f"ready{n}" for n in range(2)]
    procs = [subprocess.Popen([sys.executable, "-c", CONCURRENT_APPROVER, str(revision.pk),
                               str(r.pk), str(ready[n]), str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for n, r in enumerate(reviewers)]
    try:
        deadline = time.monotonic() + 60
        while not all(p.exists() for p in ready) and time.monotonic() < deadline:
            assert all(proc.poll() is None for proc in procs), [p.communicate() for p in procs]
            time.sleep(0.05)
        go.touch()
        outputs = [proc.communicate(timeout=60) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    outcomes = sorted(out.strip() for out, _ in outputs)
    assert outcomes == ["already_decided", "approved"], outputs
    assert awards(integration).count() == 1
    assert credits.balance(personas.workspace) == 2250
    assert integration.transitions.filter(action="approve").count() == 1
    integration.refresh_from_db()
    assert integration.state == "approved" and integration.live_revision == revision
