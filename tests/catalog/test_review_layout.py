"""The review page reads before it decides: the submission comes first in the page, the decision
panel after it (a side column that stays in view, see tests/browser/test_review_and_connector_
forms.py), and the diff against the live revision is one link away from the decision."""

from __future__ import annotations

import pytest

from catalog import services

pytestmark = pytest.mark.django_db


def _positions(page: str, *markers: str) -> list[int]:
    found = [page.find(m) for m in markers]
    assert all(p >= 0 for p in found), dict(zip(markers, found))
    return found


def test_the_submission_comes_before_the_decision_form(client, submitted, reviewer):
    client.force_login(reviewer)
    page = client.get(f"/catalog/review/{submitted.pk}/").content.decode()
    main = page.split('<main', 1)[1]  # the header's sign-out form is not the decision
    submission, prompt, checks, form, comment, button = _positions(
        main, 'data-testid="submission"', 'data-testid="rendered-prompt"',
        'data-testid="prompt-checks"', '<form method="post"', 'name="comment"',
        'data-testid="decide"')
    assert submission < prompt < checks < form < comment < button
    assert main.find('data-testid="decision-panel"') < form
    assert 'href="/static/css/review.css"' in page
    assert 'data-testid="no-diff"' in page and 'data-testid="diff-link"' not in page


def test_the_decision_panel_links_to_the_diff_against_the_live_revision(
        client, approved, personas, reviewer):
    services.update_integration(approved, actor=personas.member, data={
        "short_description": "Now with gpt-image-1"})
    revision = services.submit_for_review(approved, actor=personas.member)
    client.force_login(reviewer)
    page = client.get(f"/catalog/review/{revision.pk}/").content.decode()
    panel = page.split('data-testid="decision-panel"', 1)[1].split("</section>", 1)[0]
    live = approved.live_revision.number
    assert (f'<a href="#diff" data-testid="diff-link">See the changes against live revision '
            f'{live}</a>') in panel
    assert "1 part changed" in panel
    assert 'id="diff" data-testid="diff"' in page  # the link's target exists
    diff_at, panel_at = _positions(page, 'id="diff"', 'data-testid="decision-panel"')
    assert diff_at < panel_at
    assert f'data-testid="diff-tab">Changes against live revision {live} (1)' in page


def test_a_decided_revision_shows_its_decision_after_the_submission(client, approved, reviewer):
    client.force_login(reviewer)
    revision = approved.live_revision
    page = client.get(f"/catalog/review/{revision.pk}/").content.decode()
    submission, panel = _positions(page, 'data-testid="submission"',
                                   'data-testid="decision-panel"')
    assert submission < panel
    assert "This revision is approved" in page and 'data-testid="decide"' not in page


def test_members_still_cannot_open_the_review_page(client, submitted, personas):
    client.force_login(personas.owner)  # owner of the submitting workspace, not staff
    response = client.get(f"/catalog/review/{submitted.pk}/")
    assert response.status_code in (403, 404)
    assert b'data-testid="decision-panel"' not in response.content
