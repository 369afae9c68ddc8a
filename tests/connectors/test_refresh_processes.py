"""Single-flight refresh across real processes: several OS processes (not threads), each with its
own database connection, ask for the same expiring token at once; the authorization server sees
exactly one refresh call and every process gets the new token.

The lock is PostgreSQL's row lock on the connection (``SELECT ... FOR UPDATE``, see
``connectors.services``), so this test needs PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from connectors.models import Connection, TokenHandoff

from .conftest import CLIENT_ID, CLIENT_SECRET, ROOT, provider_overrides
from .support import connect_platform, expire

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PROCESSES = 6


def _worker_env(oauth_provider) -> dict[str, str]:  # type: ignore[no-untyped-def]
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {**os.environ,
           "DJANGO_SETTINGS_MODULE": "config.settings.test",
           "DATABASE_URL": (f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:"
                            f"{db['PORT'] or 5432}/{db['NAME']}"),
           "SECRET_KEY": settings.SECRET_KEY,
           "FIELD_ENCRYPTION_KEY": ",".join(settings.FIELD_ENCRYPTION_KEY),
           "EGRESS_ALLOW_CIDRS": "127.0.0.0/8",
           "EGRESS_ALLOWED_PORTS": f"80,443,{oauth_provider.port}",
           "CONNECTOR_PROVIDER_OVERRIDES": json.dumps(provider_overrides(oauth_provider)),
           "CONNECTOR_GITHUB_CLIENT_ID": CLIENT_ID,
           "CONNECTOR_GITHUB_CLIENT_SECRET": CLIENT_SECRET,
           "LOG_LEVEL": "WARNING"}
    env.pop("CELERY_BROKER_URL", None)
    return env


def test_processes_racing_for_an_expiring_token_make_one_refresh_call(
        client, personas, connector_settings, oauth_provider, tmp_path: Path):
    client.force_login(personas.owner)
    conn = connect_platform(client, oauth_provider, personas.app)
    old_refresh = conn.refresh_token.reveal()
    expire(conn, seconds=30)  # inside the refresh margin: every request wants to refresh
    ready, go = tmp_path / "ready", tmp_path / "go"
    ready.mkdir()
    env = _worker_env(oauth_provider)
    procs = [subprocess.Popen(
        [sys.executable, "-m", "tests.connectors.refresh_worker", personas.app.public_id,
         str(ready), str(go)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for _ in range(PROCESSES)]
    oauth_provider.configure(token_delay=0.5)  # a slow token endpoint widens the race window
    try:
        deadline = time.monotonic() + 90
        while len(list(ready.iterdir())) < PROCESSES:
            dead = [p for p in procs if p.poll() is not None]
            assert not dead, dead[0].stderr.read()[-2000:] if dead[0].stderr else "worker died"
            assert time.monotonic() < deadline, "the workers did not get ready"
            time.sleep(0.05)
        before = oauth_provider.stats().get("token:refresh_token", 0)
        go.touch()
        outputs = [p.communicate(timeout=90) for p in procs]
    finally:
        oauth_provider.configure(token_delay=0)
        for p in procs:
            if p.poll() is None:
                p.kill()

    assert [p.returncode for p in procs] == [0] * PROCESSES, [err[-2000:] for _, err in outputs]
    assert len({pid.name for pid in ready.iterdir()}) == PROCESSES  # really separate processes
    assert oauth_provider.stats()["token:refresh_token"] == before + 1
    conn = Connection.objects.get(pk=conn.pk)
    new_access = conn.access_token.reveal()
    expected = {"status": 200, "sha256": hashlib.sha256(new_access.encode()).hexdigest()}
    assert [json.loads(out) for out, _ in outputs] == [expected] * PROCESSES
    assert conn.refresh_token.reveal() != old_refresh  # the rotated one was saved
    assert oauth_provider.me(new_access) == 200
    assert TokenHandoff.objects.filter(connection=conn).count() == PROCESSES
