"""Run the test authorization server: ``python -m tests.oauth_provider.serve PORT``.

Creates its SQLite database, one confidential client (PROVIDER_CLIENT_ID/SECRET, redirect URIs
from PROVIDER_REDIRECT_URIS, consent skipped) and serves threaded WSGI on 127.0.0.1:PORT.
Prints "READY" when listening.
"""

from __future__ import annotations

import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 128


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def main() -> None:
    port = int(sys.argv[1])
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oauth_provider.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application
    from oauth2_provider.models import Application

    call_command("migrate", verbosity=0, interactive=False)
    for n in (1, 2):
        suffix = "" if n == 1 else "_2"
        client_id = os.environ.get(f"PROVIDER_CLIENT_ID{suffix}")
        if not client_id:
            continue
        Application.objects.update_or_create(client_id=client_id, defaults={
            "name": f"switchboard-tests-{n}",
            "client_secret": os.environ[f"PROVIDER_CLIENT_SECRET{suffix}"],
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": os.environ["PROVIDER_REDIRECT_URIS"],
            "skip_authorization": True,
            "algorithm": "",
        })
    server = make_server("127.0.0.1", port, get_wsgi_application(), server_class=_Server,
                         handler_class=_Quiet)
    print("READY", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
