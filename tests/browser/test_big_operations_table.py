"""Step 2 of the wizard with a real big spec (Stripe, 417 operations) at 1440 px (issue 14
§4.7): every column of the operations table is in view inside its card (no sideways scroll
hiding Summary and Tags), long paths wrap, and the sticky Continue/Back bar stays inside the
content column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser.pages import ARTIFACTS
from tests.browser.test_dashboard_pages import _context, _open

STRIPE = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "stripe-2022-04-3.0.json"

pytestmark = pytest.mark.django_db(transaction=True)

BOXES = """() => {
  const r = e => e.getBoundingClientRect();
  const wrap = document.querySelector('.op-table-wrap');
  const card = wrap.closest('.card');
  const heads = [...document.querySelectorAll('#op-table thead th')].map(th => {
    const b = r(th); return {text: th.textContent.trim(), left: b.left, right: b.right}; });
  const bar = r(document.querySelector('.sticky-actions'));
  return {wrapLeft: r(wrap).left, wrapRight: r(wrap).right,
          sideways: wrap.scrollWidth - wrap.clientWidth,
          cardLeft: r(card).left, cardRight: r(card).right,
          barLeft: bar.left, barRight: bar.right, heads};
}"""


@pytest.mark.skipif(not STRIPE.exists(), reason="needs ../shared/specs")
def test_stripe_operations_table_fits_its_card_at_1440(browser, live_server):
    from tests.factories import UserFactory, shared_workspace
    from tests.integrations.wizard_support import ready_import

    owner = UserFactory(email="big-table@example.com")
    ws = shared_workspace(owner, "Big Spec Co", plan="builder")
    spec_import = ready_import(ws, owner, STRIPE.read_text())
    context = _context(browser, live_server, 1440, owner)
    page = context.new_page()
    _open(page, f"/w/{ws.public_id}/integrations/imports/{spec_import.public_id}/operations/")
    assert page.locator("#op-table tbody tr").count() >= 400
    box = page.evaluate(BOXES)
    assert box["sideways"] <= 0, box
    for head in box["heads"]:  # Summary and Tags included: inside the visible table
        assert box["wrapLeft"] - 1 <= head["left"] and head["right"] <= box["wrapRight"] + 1, (
            head, box)
    assert [h["text"] for h in box["heads"]][-2:] == ["Summary", "Tags"]
    # Stripe's operations have no summary: the first sentence of their description stands in
    first = page.locator("#op-table tbody tr").first.locator("td").nth(4).inner_text()
    assert first.strip() and "<p>" not in first, first
    assert box["cardLeft"] - 1 <= box["barLeft"] and box["barRight"] <= box["cardRight"] + 1, box
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "stripe-operations-1440.png"), full_page=False)
    assert re.search(r"/operations/$", page.url)
    context.close()
