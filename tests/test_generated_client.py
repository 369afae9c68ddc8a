"""A Python client generated from /api/schema/ works against the live portal.

At test time, openapi-python-client (a dev dependency) generates a client package from the schema
the live server (pytest-django ``live_server``, PostgreSQL) serves, into tmp_path, failing on any
generator warning. The test imports it and, with an owner's personal access token, lists the
workspaces and creates an app through the generated functions: the answers must be the
generated, typed models (not dicts) with the right values, and an error answer the typed
``Error`` model. A schema a generator misreads (a wrong type, an undeclared status, a list
declared as an array but answered paginated) fails here the way it would fail a client's users.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest
import requests

from tests.factories import UserFactory, make_app, shared_workspace
from workspaces import services
from workspaces.models import App

pytestmark = [pytest.mark.postgres]

PACKAGE = "switchboard_client"
CONFIG = {
    "project_name_override": PACKAGE,
    "package_name_override": PACKAGE,
    "post_hooks": [],  # no formatter run: the generated code is imported, not kept
    # The imports endpoint also takes a YAML body: the generator reads a raw body as bytes.
    "content_type_overrides": {"application/yaml": "application/octet-stream"},
}


@pytest.fixture
def generated(live_server, tmp_path):  # type: ignore[no-untyped-def]
    """The generated client package, imported (and forgotten afterwards)."""
    schema = requests.get(f"{live_server.url}/api/schema/?format=json", timeout=30)
    assert schema.status_code == 200
    (tmp_path / "schema.json").write_text(schema.text)
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    out = tmp_path / "out"
    run = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [sys.executable, "-m", "openapi_python_client", "generate",
         "--path", str(tmp_path / "schema.json"), "--config", str(tmp_path / "config.json"),
         "--meta", "none", "--output-path", str(out / PACKAGE), "--fail-on-warning"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def _module(name: str):  # type: ignore[no-untyped-def]
    return importlib.import_module(f"{PACKAGE}.{name}")


def test_a_generated_client_lists_workspaces_and_creates_an_app(generated, live_server,
                                                                transactional_db):  # type: ignore[no-untyped-def]
    owner = UserFactory(email="owner@example.com")
    ws = shared_workspace(owner, "Acme")
    make_app(ws, owner, "Storefront")
    _, raw = services.create_personal_token(actor=owner, name="generated client")
    client = generated.AuthenticatedClient(base_url=live_server.url, token=raw,
                                           raise_on_unexpected_status=True)
    models = _module("models")

    listed = _module("api.v1.v1_workspaces_list").sync(client=client)
    assert all(isinstance(w, models.Workspace) for w in listed), listed
    acme = next(w for w in listed if w.id == ws.public_id)
    assert (acme.name, acme.role, acme.kind) == ("Acme", "owner", models.WorkspaceKindEnum.SHARED)
    assert acme.plan == models.PlanEnum(ws.plan)
    assert {w.id for w in listed} == set(owner.memberships.values_list(
        "workspace__public_id", flat=True))

    create = _module("api.v1.v1_workspaces_apps_create")
    answer = create.sync_detailed(
        workspace_id=ws.public_id, client=client,
        body=models.AppRequest(name="Checkout", allow_anonymous_integration_calls=False))
    assert answer.status_code == 201
    app = answer.parsed
    assert isinstance(app, models.App)
    assert (app.name, app.workspace, app.allow_anonymous_integration_calls) == (
        "Checkout", ws.public_id, False)
    stored = App.objects.get(public_id=app.id)
    assert (stored.workspace_id, stored.name) == (ws.pk, "Checkout")
    assert app.created_at == stored.created_at

    # A refusal is the declared error component, typed too; nothing is created.
    refused = create.sync_detailed(workspace_id=ws.public_id, client=client,
                                   body=models.AppRequest(name="Bad\u202ename"))
    assert refused.status_code == 400
    assert isinstance(refused.parsed, models.Error)
    assert refused.parsed.code == "invalid"
    assert "invisible or control characters" in refused.parsed.detail
    assert not App.objects.filter(name__startswith="Bad").exists()


def test_a_generated_client_with_a_revoked_token_gets_the_typed_401(generated, live_server,
                                                                    transactional_db):  # type: ignore[no-untyped-def]
    owner = UserFactory(email="owner@example.com")
    shared_workspace(owner, "Acme")
    row, raw = services.create_personal_token(actor=owner, name="revoked")
    services.revoke_personal_token(row, actor=owner)
    client = generated.AuthenticatedClient(base_url=live_server.url, token=raw)
    answer = _module("api.v1.v1_workspaces_list").sync_detailed(client=client)
    assert answer.status_code == 401
    assert isinstance(answer.parsed, _module("models").Error)
    assert answer.parsed.code in {"authentication_failed", "not_authenticated"}

