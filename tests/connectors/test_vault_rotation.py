"""Connector tokens and client secrets are VaultField columns: key rotation covers them."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command

from connectors import services
from connectors.models import Connection, WorkspaceConnector
from secrets_vault import crypto
from secrets_vault.management.commands import rotate_encryption_keys as command

from .support import make_connection

pytestmark = pytest.mark.django_db


def test_rotation_covers_connector_columns(personas, settings):
    labels = {f"{m._meta.label}.{f.name}" for m, f in command.encrypted_columns()}
    assert {"connectors.Connection.access_token", "connectors.Connection.refresh_token",
            "connectors.WorkspaceConnector.client_secret",
            "connectors.OAuthState.code_verifier"} <= labels
    key_a, key_b = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = [key_a]
    conn = make_connection(personas.app)
    connector = services.create_connector(
        personas.workspace, actor=personas.admin, name="K", client_id="c", client_secret="cs",
        authorize_url="https://a.example.com/a", token_url="https://a.example.com/t")
    settings.FIELD_ENCRYPTION_KEY = [key_b, key_a]
    call_command("rotate_encryption_keys", stdout=StringIO(), stderr=StringIO())
    settings.FIELD_ENCRYPTION_KEY = [key_b]
    conn = Connection.objects.get(pk=conn.pk)
    assert crypto.is_current(conn.access_token.token)
    assert (conn.access_token.reveal(), conn.refresh_token.reveal()) == ("AT-plain", "RT-plain")
    assert WorkspaceConnector.objects.get(pk=connector.pk).client_secret.reveal() == "cs"


def test_undecryptable_token_is_a_clear_error(personas, sdk, settings):
    make_connection(personas.app)
    settings.FIELD_ENCRYPTION_KEY = [Fernet.generate_key().decode()]
    resp = sdk(personas.app).get(f"/api/apps/{personas.app.public_id}/external-auth/tokens/github")
    assert resp.status_code == 503 and resp.json()["code"] == "token_unavailable"
