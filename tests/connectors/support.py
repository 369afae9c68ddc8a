"""Helpers shared by the connector tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from connectors import services
from connectors.models import Connection, WorkspaceConnector
from workspaces.models import App, AppUser

from .conftest import CLIENT_ID_2, CLIENT_SECRET_2, Provider, local_path


def connect_platform(client: Client, provider: Provider, app: App, type_: str = "github",
                     username: str = "alice") -> Connection:
    """The dashboard flow for real: our page -> provider -> our callback."""
    ws = app.workspace.public_id
    resp = client.post(reverse("app-connectors", args=[ws, app.public_id]),
                       {"action": "connect", "integration_type": type_})
    assert resp.status_code == 302, resp.content[:500]
    callback = provider.authorize(resp["Location"], username)
    done = client.get(local_path(callback))
    assert done.status_code == 302, done.content[:500]
    return Connection.objects.get(app=app, kind="platform", integration_type=type_)


def open_link(browser: Client, url: str) -> str:
    """The app navigates the app user's browser to the ``connectAppUser`` URL (our one-time
    link): it sets the browser cookie and answers with the provider URL."""
    resp = browser.get(local_path(url))
    assert resp.status_code == 302, resp.content[:500]
    return resp["Location"]


def register_connector(workspace: Any, actor: Any, provider: Provider,
                       name: str = "Our OAuth app") -> WorkspaceConnector:
    return services.create_connector(
        workspace, actor=actor, name=name, client_id=CLIENT_ID_2, client_secret=CLIENT_SECRET_2,
        authorize_url=provider.endpoint("/o/authorize/"), token_url=provider.endpoint("/o/token/"),
        revocation_url=provider.endpoint("/o/revoke_token/"), scopes="read write")


def make_connection(app: App, *, kind: str = "platform", integration_type: str = "github",
                    connector: WorkspaceConnector | None = None,
                    app_user: AppUser | None = None, access: str = "AT-plain",
                    refresh: str | None = "RT-plain", expires_in: int = 3600,
                    config: dict[str, str] | None = None) -> Connection:
    return Connection.objects.create(
        kind=kind, app=app, integration_type=integration_type if kind == "platform" else "",
        connector=connector, app_user=app_user, access_token=access, refresh_token=refresh,
        expires_at=timezone.now() + timedelta(seconds=expires_in),
        connection_config=config or {})


def expire(conn: Connection, seconds: int = -10) -> None:
    Connection.objects.filter(pk=conn.pk).update(
        expires_at=timezone.now() + timedelta(seconds=seconds))
