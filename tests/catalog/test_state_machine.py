"""The review state machine: every allowed and refused transition, recorded with actor, time and
comment; self-review refused; comments required; resubmission only after editing."""

from __future__ import annotations

import pytest

from catalog import services
from catalog.models import CatalogIntegration, ReviewTransition
from tests.catalog.conftest import make_integration
from tests.factories import add_member
from workspaces.models import AuditEntry
from workspaces.services import ServiceError

pytestmark = pytest.mark.django_db


def state(i: CatalogIntegration) -> str:
    i.refresh_from_db()
    return i.state


def edit(i: CatalogIntegration, user, **changes):  # type: ignore[no-untyped-def]
    return services.update_integration(i, actor=user, data=changes)


def refused(code: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    with pytest.raises(ServiceError) as exc:
        fn(*args, **kwargs)
    assert exc.value.code == code, exc.value.message
    return exc.value


def test_new_integration_is_a_draft_with_a_create_transition(integration, personas):
    assert integration.state == "draft" and integration.visibility == "public"
    t = ReviewTransition.objects.get(integration=integration)
    assert (t.action, t.actor, t.from_state, t.to_state) == ("create", personas.member, "draft",
                                                             "draft")


def test_draft_to_submitted_freezes_a_revision(integration, personas):
    revision = services.submit_for_review(integration, actor=personas.member)
    assert state(integration) == "submitted"
    assert revision.number == 1 and revision.status == "submitted"
    assert revision.prompt == integration.prompt and revision.based_on is None
    assert integration.pending_revision == revision
    t = ReviewTransition.objects.filter(integration=integration).last()
    assert (t.action, t.from_state, t.to_state, t.actor, t.revision) == (
        "submit", "draft", "submitted", personas.member, revision)
    assert t.created_at is not None


def test_private_integrations_are_not_submitted(personas):
    private = make_integration(personas.workspace, personas.member, visibility="private")
    refused("private", services.submit_for_review, private, actor=personas.member)
    assert state(private) == "draft"


def test_submission_is_blocked_by_check_errors_but_not_by_warnings(personas):
    broken = make_integration(personas.workspace, personas.member, required_secrets=[])
    exc = refused("checks_failed", services.submit_for_review, broken, actor=personas.member)
    assert "OPENAI_API_KEY" in exc.message
    assert state(broken) == "draft" and not broken.revisions.exists()
    warned = make_integration(personas.workspace, personas.member, slug="warned",
                              prompt=broken.prompt.replace("## 5. Usage & Examples", "## 5. More"))
    assert services.check(warned).warnings and services.check(warned).ok
    services.submit_for_review(warned, actor=personas.member)
    assert state(warned) == "submitted"


@pytest.mark.parametrize("decision,to_state", [
    ("approve", "approved"), ("reject", "rejected"), ("request_changes", "changes_requested")])
def test_submitted_to_each_decision(submitted, reviewer, decision, to_state):
    services.decide(submitted, actor=reviewer, decision=decision, comment="Because.")
    integration = submitted.integration
    assert state(integration) == to_state
    submitted.refresh_from_db()
    assert submitted.status == to_state and submitted.decided_by == reviewer
    assert submitted.decision_comment == "Because." and submitted.decided_at is not None
    t = ReviewTransition.objects.filter(integration=integration).last()
    assert (t.action, t.from_state, t.to_state, t.actor, t.comment) == (
        decision, "submitted", to_state, reviewer, "Because.")
    integration.refresh_from_db()
    assert (integration.live_revision == submitted) is (decision == "approve")
    assert integration.pending_revision is None


@pytest.mark.parametrize("decision", ["reject", "request_changes"])
def test_rejecting_or_requesting_changes_needs_a_comment(submitted, reviewer, decision):
    refused("comment_required", services.decide, submitted, actor=reviewer, decision=decision,
            comment="   ")
    assert state(submitted.integration) == "submitted"


def test_approval_comment_is_optional(submitted, reviewer):
    services.approve_submission(submitted, actor=reviewer)
    assert state(submitted.integration) == "approved"


def test_withdraw_returns_to_draft(submitted, personas):
    services.withdraw_submission(submitted.integration, actor=personas.member)
    assert state(submitted.integration) == "draft"
    submitted.refresh_from_db()
    assert submitted.status == "withdrawn"
    t = ReviewTransition.objects.filter(integration=submitted.integration).last()
    assert (t.action, t.from_state, t.to_state) == ("withdraw", "submitted", "draft")


def test_nobody_reviews_their_own_submission(personas, reviewer):
    mine = make_integration(personas.workspace, personas.owner)
    personas.owner.is_staff = True
    personas.owner.save()
    revision = services.submit_for_review(mine, actor=personas.owner)
    for decision in ("approve", "reject", "request_changes"):
        exc = refused("forbidden", services.decide, revision, actor=personas.owner,
                      decision=decision, comment="me")
        assert "own submission" in exc.message
    assert state(mine) == "submitted"


def test_staff_member_of_the_submitting_workspace_cannot_review(submitted, personas, reviewer):
    add_member(personas.workspace, reviewer)
    refused("forbidden", services.approve_submission, submitted, actor=reviewer)


def test_non_staff_cannot_decide(submitted, personas):
    refused("forbidden", services.approve_submission, submitted, actor=personas.outsider)


def test_refused_transitions(integration, personas, reviewer):
    member = personas.member
    # draft: no decision, no withdraw
    refused("invalid_state", services.withdraw_submission, integration, actor=member)
    revision = services.submit_for_review(integration, actor=member)
    # submitted: no second submit, no edit
    refused("invalid_state", services.submit_for_review, integration, actor=member)
    refused("in_review", edit, integration, member, name="Renamed")
    services.request_changes(revision, actor=reviewer, comment="Add usage examples")
    # changes_requested: no resubmit before an edit, no decision, no withdraw
    refused("invalid_state", services.submit_for_review, integration, actor=member)
    refused("already_decided", services.approve_submission, revision, actor=reviewer)
    refused("invalid_state", services.withdraw_submission, integration, actor=member)
    edit(integration, member, short_description="Now with more examples")
    assert state(integration) == "draft"
    revision2 = services.submit_for_review(integration, actor=member)
    assert revision2.number == 2
    services.reject_submission(revision2, actor=reviewer, comment="Duplicate of another one")
    # rejected: stays usable privately, resubmit only after editing
    assert services.usable_by(personas.workspace).filter(pk=integration.pk).exists()
    refused("invalid_state", services.submit_for_review, integration, actor=member)
    refused("already_decided", services.reject_submission, revision2, actor=reviewer,
            comment="again")
    assert edit(integration, member) == []  # saving without changes is not an edit
    refused("invalid_state", services.submit_for_review, integration, actor=member)
    edit(integration, member, name="Better name")
    revision3 = services.submit_for_review(integration, actor=member)
    services.approve_submission(revision3, actor=reviewer)
    # approved: nothing to submit until edited; can't go private; can't be deleted
    refused("invalid_state", services.submit_for_review, integration, actor=member)
    refused("already_decided", services.approve_submission, revision3, actor=reviewer)
    refused("live", edit, integration, member, visibility="private")
    refused("live", services.delete_integration, integration, actor=member)
    # an old, decided revision can never be approved later
    refused("already_decided", services.approve_submission, revision2, actor=reviewer)
    actions = list(integration.transitions.values_list("action", flat=True))
    assert actions == ["create", "submit", "request_changes", "edit", "submit", "reject", "edit",
                       "submit", "approve"]


def test_a_withdrawn_revision_cannot_be_decided(submitted, personas, reviewer):
    services.withdraw_submission(submitted.integration, actor=personas.member)
    refused("already_decided", services.approve_submission, submitted, actor=reviewer)


def test_editing_an_approved_integration_goes_back_to_draft(approved, personas):
    edit(approved, personas.member, short_description="v2")
    assert state(approved) == "draft"
    approved.refresh_from_db()
    assert approved.live_revision.short_description != "v2"


def test_private_integration_edits_in_place_and_stays_draft(personas):
    private = make_integration(personas.workspace, personas.member, visibility="private")
    edit(private, personas.member, prompt=private.prompt + "\nMore.")
    assert state(private) == "draft" and not private.revisions.exists()
    assert private.prompt.endswith("More.")


def test_slug_unique_within_a_workspace_and_across_the_public_catalog(approved, personas,
                                                                      reviewer):
    refused("duplicate", make_integration, personas.workspace, personas.member)
    other = make_integration(personas.outsider_workspace, personas.outsider)  # same slug: fine
    refused("duplicate", services.submit_for_review, other, actor=personas.outsider)


# --- every (state, action) pair -----------------------------------------------------------

OK = "ok"


def reach(state_name: str, p, reviewer):  # type: ignore[no-untyped-def]
    """An integration in the named situation, plus the revision a reviewer would act on."""
    i = make_integration(p.workspace, p.member)
    if state_name == "draft":
        return i, None
    r1 = services.submit_for_review(i, actor=p.member)
    if state_name == "submitted":
        return i, r1
    if state_name == "withdrawn":
        services.withdraw_submission(i, actor=p.member)
        return i, r1
    if state_name in ("rejected", "changes_requested"):
        decision = "reject" if state_name == "rejected" else "request_changes"
        services.decide(r1, actor=reviewer, decision=decision, comment="No")
        return i, r1
    services.approve_submission(r1, actor=reviewer)
    if state_name == "approved":
        return i, r1
    edit(i, p.member, short_description="v2")
    if state_name == "live_draft":
        return i, r1
    r2 = services.submit_for_review(i, actor=p.member)
    assert state_name == "live_submitted"
    return i, r2


# state reached -> {action: (expected resulting state, or the refusal code)}
MATRIX = {
    "draft": {"submit": "submitted", "withdraw": "invalid_state", "edit": "draft"},
    "submitted": {"submit": "invalid_state", "withdraw": "draft", "approve": "approved",
                  "reject": "rejected", "request_changes": "changes_requested",
                  "edit": "in_review"},
    "withdrawn": {"submit": "submitted", "withdraw": "invalid_state",
                  "approve": "already_decided", "reject": "already_decided",
                  "request_changes": "already_decided", "edit": "draft"},
    "approved": {"submit": "invalid_state", "withdraw": "invalid_state",
                 "approve": "already_decided", "reject": "already_decided",
                 "request_changes": "already_decided", "edit": "draft"},
    "rejected": {"submit": "invalid_state", "withdraw": "invalid_state",
                 "approve": "already_decided", "reject": "already_decided",
                 "request_changes": "already_decided", "edit": "draft"},
    "changes_requested": {"submit": "invalid_state", "withdraw": "invalid_state",
                          "approve": "already_decided", "reject": "already_decided",
                          "request_changes": "already_decided", "edit": "draft"},
    "live_draft": {"submit": "submitted", "withdraw": "invalid_state",
                   "approve": "already_decided", "reject": "already_decided",
                   "request_changes": "already_decided", "edit": "draft"},
    "live_submitted": {"submit": "invalid_state", "withdraw": "draft", "approve": "approved",
                       "reject": "rejected", "request_changes": "changes_requested",
                       "edit": "in_review"},
}
CASES = [(s, a, expected) for s, actions in MATRIX.items() for a, expected in actions.items()]
STATES = {"draft", "submitted", "approved", "rejected", "changes_requested"}


@pytest.mark.parametrize("start,action,expected", CASES, ids=[f"{s}-{a}" for s, a, _ in CASES])
def test_every_transition(personas, reviewer, start, action, expected):
    """Each allowed transition lands in its state and is recorded (action, actor, from, to,
    comment); each refused one names why and changes nothing. A live revision keeps serving
    through everything except the approval of a newer revision."""
    i, revision = reach(start, personas, reviewer)
    i.refresh_from_db()
    before_state, before_live = i.state, i.live_revision_id
    before_rows = i.transitions.count()
    actor = reviewer if action in services.DECISIONS else personas.member
    calls = {
        "submit": lambda: services.submit_for_review(i, actor=actor),
        "withdraw": lambda: services.withdraw_submission(i, actor=actor),
        "edit": lambda: edit(i, actor, short_description=f"edited in {start}"),
    }
    run = calls.get(action) or (lambda: services.decide(
        revision, actor=actor, decision=action, comment="Reason given"))
    if expected in STATES:
        run()
        i.refresh_from_db()
        assert i.state == expected
        if before_state == expected == "draft":
            # editing a draft is not a state change: no transition row, but an audit entry
            assert i.transitions.count() == before_rows
            assert AuditEntry.objects.filter(action="catalog.update", actor=actor).exists()
            return
        row = i.transitions.last()
        assert row.actor == actor and row.created_at is not None
        assert row.from_state == before_state and row.to_state == expected
        if action in services.DECISIONS:
            assert (row.action, row.comment, row.revision) == (action, "Reason given", revision)
        if action == "approve":
            assert i.live_revision == revision
        else:
            assert i.live_revision_id == before_live
    else:
        refused(expected, run)
        i.refresh_from_db()
        assert (i.state, i.live_revision_id) == (before_state, before_live)
        assert i.transitions.count() == before_rows
