"""Every vault change and every environment read leaves an audit row: actor, action, name,
scope, time; never a value (checked on the raw table, every column)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from secrets_vault import services as vault
from tests import canary as walker
from tests.secrets_vault.conftest import new_canary
from workspaces.models import AuditEntry

pytestmark = pytest.mark.django_db


def test_every_action_is_audited_and_no_value_is(personas, client, api, sdk, settings,
                                                 fernet_key):
    p, ws, app = personas, personas.workspace, personas.app
    canaries = [new_canary() for _ in range(9)]
    start = timezone.now()
    # through the dashboard (owner), the admin API (admin) and the services
    client.force_login(p.owner)
    base = f"/w/{ws.public_id}"
    assert client.post(f"{base}/secrets/", {"name": "PAGE_KEY", "value": canaries[0],
                                            "description": "d"}).status_code == 302
    assert client.post(f"{base}/secrets/PAGE_KEY/", {"value": canaries[1],
                                                     "description": "d"}).status_code == 302
    assert client.post(f"{base}/secrets/PAGE_KEY/delete/").status_code == 302
    admin = api(p.admin)
    v1 = f"/api/v1/workspaces/{ws.public_id}"
    assert admin.put(f"{v1}/apps/{app.public_id}/secrets/API_KEY/", {"value": canaries[2]},
                     format="json").status_code == 201
    assert admin.put(f"{v1}/apps/{app.public_id}/secrets/API_KEY/", {"value": canaries[3]},
                     format="json").status_code == 200
    created = admin.post(f"{v1}/custom-apis/", {
        "name": "Audited API", "auth_type": "basic", "username": canaries[4],
        "credential": canaries[5], "scope": "app", "app": app.public_id}, format="json")
    assert created.status_code == 201
    api_id = created.json()["id"]
    assert admin.patch(f"{v1}/custom-apis/{api_id}/", {"name": "Audited API 2",
                                                        "scope": "organization"},
                       format="json").status_code == 200
    vault.create_custom_api(ws, actor=p.owner, name="Gone", auth_type="api_key",
                            credential=canaries[6])
    assert sdk(app).get(f"/api/apps/{app.public_id}/functions/env").status_code == 200
    assert admin.delete(f"{v1}/custom-apis/{api_id}/").status_code == 204
    settings.FIELD_ENCRYPTION_KEY = [fernet_key()]
    assert sdk(app).get(f"/api/apps/{app.public_id}/functions/env").status_code == 500

    # (the fixture's app-creation grant is before `start`: tests/secrets_vault/test_app_access.py)
    # (the `api` and `sdk` fixtures mint tokens after `start`: audited too, not listed here)
    rows = list(AuditEntry.objects.filter(workspace=ws, created_at__gte=start)
                .exclude(target_type__in=("personal_token", "service_token")).order_by("id"))
    got = [(r.action, r.actor.email if r.actor else r.actor_label[:13], r.target_name, r.scope)
           for r in rows]
    app_scope = f"app:{app.public_id}"
    assert got == [
        ("secret.create", p.owner.email, "PAGE_KEY", "workspace"),
        ("secret.replace", p.owner.email, "PAGE_KEY", "workspace"),
        ("secret.delete", p.owner.email, "PAGE_KEY", "workspace"),
        ("secret.create", p.admin.email, "API_KEY", app_scope),
        ("secret.replace", p.admin.email, "API_KEY", app_scope),
        ("custom_api.create", p.admin.email, "Audited API", app_scope),
        ("custom_api.update", p.admin.email, "Audited API 2", "workspace"),
        ("custom_api.create", p.owner.email, "Gone", "workspace"),
        ("env.read", "service token", app.name, app_scope),
        ("custom_api.delete", p.admin.email, "Audited API 2", "workspace"),
        ("env.read_failed", "service token", app.name, app_scope),
    ]
    assert all(start <= r.created_at <= timezone.now() for r in rows)
    assert rows[1].changes == {"value": "changed", "version": 2}
    assert rows[6].changes["scope_label"] == {"from": app_scope, "to": "workspace"}
    assert rows[8].changes["variables"] == sorted(rows[8].changes["variables"])
    assert "API_KEY" in rows[8].changes["variables"]
    # the raw table, every column: no value, no username, no ciphertext
    assert walker.scan_database(canaries) == []
    dump = str(list(AuditEntry.objects.values()))
    assert not any(c in dump for c in canaries) and "gAAAAA" not in dump
