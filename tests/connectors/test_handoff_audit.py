"""Every access-token hand-off is audited (app, connector, kind, caller kind, time); refusals
and callApi (the token never leaves the server) are not hand-offs."""

from __future__ import annotations

import pytest
from django.utils import timezone

from connectors.models import Connection, TokenHandoff, WorkspaceConnector
from workspaces import services as ws_services

from .support import make_connection

pytestmark = pytest.mark.django_db


@pytest.fixture
def connector(personas) -> WorkspaceConnector:  # type: ignore[no-untyped-def]
    return WorkspaceConnector.objects.create(
        workspace=personas.workspace, name="Own", client_id="cid", client_secret="s3cret",
        authorize_url="https://auth.example.com/a", token_url="https://auth.example.com/t")


def test_each_kind_of_hand_off_is_audited(personas, sdk, connector):
    app = personas.app
    started = timezone.now()
    make_connection(app, access="AT-platform")
    make_connection(app, kind="workspace", connector=connector, access="AT-shared")
    user = app.app_users.create(external_id="user-7")
    make_connection(app, kind="app_user", connector=connector, app_user=user,
                    access="AT-user-7")
    base = f"/api/apps/{app.public_id}"
    service = sdk(app)
    obo = sdk(app)
    obo.credentials(HTTP_AUTHORIZATION=service._credentials["HTTP_AUTHORIZATION"],
                    HTTP_ON_BEHALF_OF="Bearer "
                    + ws_services.mint_app_user_token(app, "user-7").token)

    got = [
        service.get(f"{base}/external-auth/tokens/github").json()["access_token"],
        service.get(f"{base}/external-auth/tokens/connectors/{connector.public_id}"
                    ).json()["access_token"],
        obo.get(f"{base}/app-user-auth/connectors/{connector.public_id}/token"
                ).json()["access_token"],
    ]
    assert got == ["AT-platform", "AT-shared", "AT-user-7"]

    rows = list(TokenHandoff.objects.order_by("id"))
    assert [(r.app, r.workspace, r.connector_label, r.kind, r.caller_kind,
             r.app_user_external_id) for r in rows] == [
        (app, personas.workspace, "github", "platform", "service", ""),
        (app, personas.workspace, f"connector:{connector.public_id}", "workspace", "service",
         ""),
        (app, personas.workspace, f"connector:{connector.public_id}", "app_user",
         "service_on_behalf_of", "user-7"),
    ]
    assert all(r.created_at >= started for r in rows)
    for conn in Connection.objects.all():
        assert conn.last_handoff_at is not None and conn.last_handoff_at >= started
        assert TokenHandoff.objects.filter(connection=conn).count() == 1


def test_refusals_and_proxied_calls_are_not_hand_offs(personas, sdk, connector, settings):
    app = personas.app
    settings.CONNECTOR_CLIENTS = {"twitter": {"client_id": "x", "client_secret": "y"}}
    settings.CONNECTOR_PROVIDER_OVERRIDES = {"twitter": {"hosts": {"api": "http://127.0.0.1:9"}}}
    settings.EGRESS_ALLOW_CIDRS = []  # the call is refused by the egress guard: not_sent
    make_connection(app, integration_type="twitter", access="AT-metered")
    needs = make_connection(app, kind="workspace", connector=connector)
    Connection.objects.filter(pk=needs.pk).update(status="needs_reconnect")
    base = f"/api/apps/{app.public_id}"
    service = sdk(app)
    assert service.get(f"{base}/external-auth/tokens/twitter").status_code == 403  # metered
    assert service.get(f"{base}/external-auth/tokens/github").status_code == 404
    assert service.get(f"{base}/external-auth/tokens/connectors/{connector.public_id}"
                       ).status_code == 409
    assert sdk(app, "u1").get(f"{base}/external-auth/tokens/twitter").status_code == 403
    called = service.post(f"{base}/connectors/twitter/call", {"path": "/2/users/me"},
                          format="json")
    assert called.status_code == 200 and called.json()["phase"] == "not_sent"
    assert "AT-metered" not in called.content.decode()
    assert not TokenHandoff.objects.exists()
    assert not Connection.objects.exclude(last_handoff_at=None).exists()
