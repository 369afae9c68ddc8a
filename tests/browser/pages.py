"""Every dashboard page, built from the URL conf: a seeded workspace with one real object of each
kind, the route list of tests/test_url_sweep.py with each path parameter filled from it, and a
classification (a page, a redirect, a POST-only action, JSON) made with Django's test client, so
a new page is visited by the browser tests without being listed by hand.

Also axe-core (pinned in tests/package.json, installed by ``npm ci`` into tests/node_modules)
for the accessibility checks."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.sdk_e2e import skip_or_fail

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent
AXE = TESTS / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "artifacts" / "screenshots"

PARAM = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")

# Routes no browser test can open as a page, and why. Everything else that is not /api/ or the
# Django admin must classify as a page, a redirect, a POST-only action or JSON.
NOT_PAGES = {
    "connectors/oauth/start/<str:launch_token>/": "a one-time link that redirects to the "
                                                  "OAuth provider",
    "healthz": "plain-text health check",
}
# Pages that answer something other than 200 on purpose (what a user sees there).
PAGE_STATUS = {
    "connectors/oauth/callback/": 400,  # "the connection could not be completed"
}


def axe_source() -> str:
    """axe-core's script, installed with ``npm ci`` when missing (skip, or fail under CI)."""
    if not AXE.exists():
        npm = shutil.which("npm")
        if not npm:
            skip_or_fail("needs npm to install axe-core (tests/package.json)")
        assert npm is not None
        try:
            subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--cache",
                            str(TESTS / ".npm-cache")], cwd=TESTS, capture_output=True,
                           text=True, timeout=300)
        except subprocess.TimeoutExpired:
            skip_or_fail("npm ci timed out (is the npm registry reachable?)")
        if not AXE.exists():
            skip_or_fail("npm could not install axe-core (tests/package.json)")
    return AXE.read_text()


@dataclass
class Seed:
    owner: Any
    ids: dict[str, str]
    # values for routes whose parameter name means different things in different places
    catalog_integration: str = ""
    app_secret: str = ""
    forbidden: str = ""  # a page the owner (a plain member there) may not open: the 403 page
    plan_required: str = ""  # a page the owner's free workspace has no plan for
    reset: tuple[str, str] = ("", "")
    extra: dict[str, str] = field(default_factory=dict)


def seed() -> Seed:
    """One workspace with one real object of each kind the dashboard shows."""
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    from catalog import services as catalog
    from catalog.models import Notification
    from catalog.starter import OPENAI_EXAMPLE
    from connectors import services as connectors
    from integrations.models import CallLog
    from secrets_vault import services as vault
    from tests.factories import UserFactory, add_member, make_app, shared_workspace
    from tests.integrations.wizard_support import PETSTORE_30, make_integration, ready_import
    from workspaces import credits
    from workspaces import services as ws_services
    from workspaces.models import Membership, Role

    owner = UserFactory(email="pages-owner@example.com", name="Paula Owner", is_staff=True)
    ws = shared_workspace(owner, "Acme Pages", plan="builder")
    member = UserFactory(email="pages-member@example.com", name="Max Member")
    membership = add_member(ws, member, Role.MEMBER)
    invitation = ws_services.invite(ws, actor=owner, email="invitee@example.com")
    app = make_app(ws, owner, "Storefront")
    vault.set_secret(ws, "STRIPE_API_KEY", f"sk-{uuid.uuid4().hex}", actor=owner,
                     description="Payments")
    vault.set_secret(ws, "APP_ONLY_KEY", f"ak-{uuid.uuid4().hex}", actor=owner, app=app)
    custom = vault.create_custom_api(ws, actor=owner, name="Weather", auth_type="api_key",
                                     credential=f"wk-{uuid.uuid4().hex}",
                                     domain="api.weather.example.com")
    integration = make_integration(ws, owner, slug="contacts")
    pending = ready_import(ws, owner, PETSTORE_30.read_text())
    connector = connectors.create_connector(
        ws, actor=owner, name="Our OAuth app", client_id="client-123",
        client_secret=f"cs-{uuid.uuid4().hex}", authorize_url="https://auth.example.com/authorize",
        token_url="https://auth.example.com/token", scopes="read")
    mine = catalog.create_integration(ws, actor=owner,
                                      data={**OPENAI_EXAMPLE, "visibility": "private"})
    for i, (status, credit) in enumerate([(200, 1), (201, 1), (404, 1), (502, 0)]):
        CallLog.objects.create(request_id=f"req_{uuid.uuid4().hex}", workspace=ws, app=app,
                               integration=integration, integration_slug="contacts",
                               operation="get:/contacts" if i % 2 else "post:/contacts",
                               caller_kind="service", phase="responded", status_code=status,
                               response_status=status, latency_ms=40 + i * 30, credits=credit)
        if credit:
            credits.charge(ws, credit, reason="contacts get:/contacts",
                           idempotency_key=f"pages-call-{i}")

    # Another team submits to the public catalog: the owner (staff, not a member there) reviews.
    author = UserFactory(email="pages-author@example.com", name="Ada Author")
    other = shared_workspace(author, "Globex", plan="builder")
    theirs = catalog.create_integration(other, actor=author, data={
        **OPENAI_EXAMPLE, "name": "Image Maker", "slug": "image-maker", "visibility": "public"})
    revision = catalog.submit_for_review(theirs, actor=author)
    notification = Notification.objects.filter(recipient=owner).first()
    assert notification is not None, "submitting notifies the reviewers"

    # A team where the owner is a plain member: adding an integration there is the 403 page.
    boss = UserFactory(email="pages-boss@example.com")
    third = shared_workspace(boss, "Initech", plan="builder")
    add_member(third, owner, Role.MEMBER)

    ids = {
        "workspace_id": ws.public_id, "app_id": app.public_id,
        "integration_id": integration.public_id, "import_id": pending.public_id,
        "custom_api_id": custom.public_id, "connector_id": connector.public_id,
        "name": "STRIPE_API_KEY", "revision_id": str(revision.pk),
        "notification_id": str(notification.pk), "membership_id": str(membership.pk),
        "invitation_id": str(invitation.pk), "public_id": invitation.public_id,
        "launch_token": "zz9",
    }
    assert Membership.objects.filter(workspace=third, user=owner).exists()
    personal = shared_workspace(owner, "Side Project", plan="free")
    uid = urlsafe_base64_encode(force_bytes(owner.pk))
    return Seed(owner=owner, ids=ids, catalog_integration=mine.public_id,
                app_secret="APP_ONLY_KEY",
                forbidden=f"/w/{third.public_id}/integrations/new/",
                plan_required=f"/w/{personal.public_id}/integrations/new/",
                reset=(uid, default_token_generator.make_token(owner)))


def fill(route: str, s: Seed) -> str:
    values = dict(s.ids)
    if route.startswith("w/<str:workspace_id>/catalog/"):
        values["integration_id"] = s.catalog_integration
    if route.startswith("w/<str:workspace_id>/secrets/apps/"):
        values["name"] = s.app_secret
    values["uidb64"], values["token"] = s.reset
    return "/" + PARAM.sub(lambda m: values[m["name"]], route)


def dashboard_routes() -> list[str]:
    from tests.test_url_sweep import ROUTES

    return [r for r in ROUTES if not r.startswith(("api/", "admin/")) and r not in NOT_PAGES]


@dataclass
class PageList:
    signed_in: list[tuple[str, str, int]]   # (name, path, status): pages the owner opens
    signed_out: list[tuple[str, str, int]]  # pages only a visitor opens (sign-in, sign-up, reset)
    other: dict[str, str]  # route -> what it is instead (redirect, POST-only, JSON)


def classify(s: Seed) -> PageList:
    """GET every dashboard route as the owner and as a visitor; 200 + HTML is a page."""
    from django.test import Client

    owner, anonymous = Client(), Client()
    owner.force_login(s.owner)
    signed_in: list[tuple[str, str, int]] = []
    signed_out: list[tuple[str, str, int]] = []
    other: dict[str, str] = {}
    for route in dashboard_routes():
        path = fill(route, s)
        if route.startswith("reset/<"):
            # Django may move the token into the session and redirect to .../set-password/.
            r = anonymous.get(path)
            assert r.status_code in (200, 302), (path, r.status_code)
            signed_out.append((name_of(route), r["Location"] if r.status_code == 302 else path,
                               200))
            continue
        as_owner = owner.get(path)
        status, kind = as_owner.status_code, as_owner.get("Content-Type", "")
        if status == PAGE_STATUS.get(route, 200) and kind.startswith("text/html"):
            signed_in.append((name_of(route), path, status))
            continue
        if status == 200:
            other[route] = f"not a page: {kind}"
            continue
        if status == 405:
            other[route] = "POST-only action"
            continue
        assert status == 302, (f"{path} answers {status} to its owner: seed an object for it, "
                               f"or list it in NOT_PAGES with the reason", as_owner.content[:300])
        visitor = anonymous.get(path)
        if visitor.status_code == 200 and visitor.get("Content-Type", "").startswith("text/html"):
            signed_out.append((name_of(route), path, 200))
        else:
            other[route] = f"redirect to {as_owner['Location']}"
    return PageList(signed_in=signed_in, signed_out=signed_out, other=other)


def name_of(route: str) -> str:
    """A file name for a page: w/<str:workspace_id>/apps/<str:app_id>/ -> w-apps-app_id."""
    route = PARAM.sub(lambda m: "" if m["name"] == "workspace_id" else m["name"], route)
    return "-".join(p for p in route.split("/") if p and p != "w") or "home"
