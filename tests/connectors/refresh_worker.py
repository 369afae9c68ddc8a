"""One competitor of the cross-process refresh race (tests/connectors/test_refresh_processes.py).

``python -m tests.connectors.refresh_worker APP_PUBLIC_ID READY_DIR GO_FILE``: sets Django up on
the test database (settings from the environment), connects, writes ``READY_DIR/<pid>``, waits
for ``GO_FILE`` to appear, then asks for the app's github token exactly like the SDK endpoint
does (``services.hand_off_platform``) and prints ``{"status", "sha256"}`` (a digest, never the
token itself).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path


def main() -> None:
    app_id, ready_dir, go_file = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.db import connection

    from connectors import services
    from workspaces.models import App

    app = App.objects.select_related("workspace").get(public_id=app_id)
    connection.ensure_connection()
    (ready_dir / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while not go_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit("no go signal")
        time.sleep(0.002)
    try:
        body = services.hand_off_platform(app, "github", caller_kind="service")
    except services.ConnectorError as exc:
        print(json.dumps({"status": exc.status, "code": exc.code}))
        return
    digest = hashlib.sha256(body["access_token"].encode()).hexdigest()
    print(json.dumps({"status": 200, "sha256": digest}))


if __name__ == "__main__":
    main()
