"""Import from a URL: through a real Celery worker against a local server, the SSRF refusals,
and a clear message for every way a fetch goes wrong."""

from __future__ import annotations

import json
import socket
import time

import pytest

from integrations import openapi, services
from integrations.models import SpecImport
from tests.integrations.egress_support import Upstream, redirect
from tests.integrations.wizard_support import PETSTORE_30, egress_to, serve


@pytest.fixture(scope="module")
def upstream():  # type: ignore[no-untyped-def]
    server = Upstream()
    yield server
    server.close()


def run_url_import(personas, upstream, url: str) -> SpecImport:  # type: ignore[no-untyped-def]
    with egress_to(upstream):
        spec_import = services.start_url_import(personas.workspace, actor=personas.admin,
                                                url=url)
        services.run_import(spec_import.pk)
    spec_import.refresh_from_db()
    return spec_import


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_url_import_through_a_real_celery_worker(celery_worker_real, personas, upstream):
    url = serve(upstream, "/celery/petstore.yaml", PETSTORE_30.read_bytes(),
                content_type="application/yaml")
    with egress_to(upstream):
        spec_import = services.start_url_import(personas.workspace, actor=personas.admin,
                                                url=url)  # queued on commit (autocommit here)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            spec_import.refresh_from_db()
            if spec_import.status in (SpecImport.Status.READY, SpecImport.Status.FAILED):
                break
            time.sleep(0.1)
    assert spec_import.status == SpecImport.Status.READY, spec_import.error_message
    assert [op["key"] for op in spec_import.operations] == [
        "get:/pets", "post:/pets", "get:/pets/{petId}"]
    assert spec_import.raw_text == PETSTORE_30.read_text()
    assert spec_import.default_base_url == "http://petstore.swagger.io/v1"
    assert any(seen.path == "/celery/petstore.yaml" for seen in upstream.seen)
    # Safe to run twice: a finished import is left as it is.
    services.run_import(spec_import.pk)
    assert SpecImport.objects.get(pk=spec_import.pk).finished_at == spec_import.finished_at


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_ssrf_refusal_in_the_worker(celery_worker_real, personas, settings, upstream):
    settings.EGRESS_ALLOW_CIDRS = []
    settings.EGRESS_ALLOWED_PORTS = [80, 443, upstream.port]
    spec_import = services.start_url_import(personas.workspace, actor=personas.admin,
                                            url=f"http://localtest.me:{upstream.port}/x.json")
    deadline = time.monotonic() + 30
    while spec_import.status not in ("ready", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
        spec_import.refresh_from_db()
    assert spec_import.status == SpecImport.Status.FAILED
    assert spec_import.error_code in ("blocked", "unreachable")  # resolves to 127.0.0.1 or fails


@pytest.mark.django_db
@pytest.mark.parametrize("url", [
    "http://127.0.0.1/openapi.json",
    "http://10.1.2.3/openapi.json",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/openapi.json",
    "http://192.168.0.10:8080/spec.yaml",
    "http://localhost/openapi.json",
    "http://metadata.google.internal/computeMetadata/v1/",
    "file:///etc/passwd",
    "ftp://specs.example.com/openapi.json",
])
def test_private_addresses_are_refused_without_an_allowlist(personas, settings, url):
    settings.EGRESS_ALLOW_CIDRS = []
    with pytest.raises(services.IntegrationError) as exc:
        services.start_url_import(personas.workspace, actor=personas.admin, url=url)
    assert exc.value.code == "invalid_url"
    assert not SpecImport.objects.exists()


@pytest.mark.django_db
def test_a_name_resolving_to_loopback_is_refused_in_the_task(personas, settings, monkeypatch):
    settings.EGRESS_ALLOW_CIDRS = []
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "",
                                          ("127.0.0.1", 80))])
    spec_import = services.start_url_import(personas.workspace, actor=personas.admin,
                                            url="http://specs.example.com/openapi.json")
    services.run_import(spec_import.pk)
    spec_import.refresh_from_db()
    assert spec_import.status == SpecImport.Status.FAILED
    assert spec_import.error_code == "blocked"
    assert "public internet" in spec_import.error_message


@pytest.mark.django_db
def test_redirects_are_followed_up_to_three(personas, upstream):
    serve(upstream, "/r/final.yaml", PETSTORE_30.read_bytes(), content_type="application/yaml")
    upstream.routes["/r/1"] = redirect("/r/2")
    upstream.routes["/r/2"] = redirect("/r/3")
    upstream.routes["/r/3"] = redirect("/r/final.yaml")
    assert run_url_import(personas, upstream, upstream.url("/r/1")).status == "ready"
    upstream.routes["/r/0"] = redirect("/r/1")
    failed = run_url_import(personas, upstream, upstream.url("/r/0"))
    assert failed.status == "failed" and failed.error_code == "too_many_redirects"
    assert "more than 3 times" in failed.error_message


@pytest.mark.django_db
@pytest.mark.parametrize("status,code,words", [
    (401, "needs_auth", ["authentication", "401"]),
    (403, "needs_auth", ["authentication", "403"]),
    (404, "not_found", ["nothing was found"]),
    (500, "http_error", ["500"]),
])
def test_http_errors_say_what_went_wrong(personas, upstream, status, code, words):
    url = serve(upstream, f"/status/{status}", b"{}", status=status)
    spec_import = run_url_import(personas, upstream, url)
    assert spec_import.status == "failed" and spec_import.error_code == code
    for word in words:
        assert word in spec_import.error_message.lower()


@pytest.mark.django_db
def test_html_instead_of_a_spec(personas, upstream):
    page = b"<!DOCTYPE html><html><head><title>Docs</title></head><body>Swagger UI</body></html>"
    url = serve(upstream, "/docs", page, content_type="text/html; charset=utf-8")
    spec_import = run_url_import(personas, upstream, url)
    assert spec_import.error_code == "html"
    assert "web page (HTML) instead of the spec" in spec_import.error_message
    # Also when the server claims it is JSON
    url = serve(upstream, "/docs-as-json", page, content_type="application/json")
    assert run_url_import(personas, upstream, url).error_code == "html"


@pytest.mark.django_db
def test_not_json_or_yaml_and_not_openapi(personas, upstream):
    url = serve(upstream, "/broken.json", b'{"openapi": "3.0.0", "info": ', )
    spec_import = run_url_import(personas, upstream, url)
    assert spec_import.error_code == "not_json_or_yaml"
    assert "line 1" in spec_import.error_message
    url = serve(upstream, "/package.json", json.dumps({"name": "x", "paths": {}}))
    spec_import = run_url_import(personas, upstream, url)
    assert spec_import.error_code == "not_openapi"


@pytest.mark.django_db
def test_too_large(personas, upstream, monkeypatch):
    monkeypatch.setattr(openapi, "MAX_SPEC_BYTES", 1000)
    url = serve(upstream, "/big.json", json.dumps({"openapi": "3.0.0", "x": "y" * 5000}))
    spec_import = run_url_import(personas, upstream, url)
    assert spec_import.error_code == "too_large"
    assert "too large" in spec_import.error_message


@pytest.mark.django_db
def test_unreachable(personas, upstream):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with egress_to(upstream), pytest.MonkeyPatch.context() as mp:
        from django.conf import settings

        mp.setattr(settings, "EGRESS_ALLOWED_PORTS", [port])
        spec_import = services.start_url_import(personas.workspace, actor=personas.admin,
                                                url=f"http://127.0.0.1:{port}/openapi.json")
        services.run_import(spec_import.pk)
    spec_import.refresh_from_db()
    assert spec_import.error_code == "unreachable"
    assert "could not be reached" in spec_import.error_message


@pytest.mark.django_db
def test_a_bundled_file_on_another_site_is_refused(personas, upstream):
    root = {"swagger": "2.0", "info": {"title": "x", "version": "1"},
            "paths": {"/a": {"$ref": "http://evil.example.com/a.json"}}}
    url = serve(upstream, "/cross/root.json", json.dumps(root))
    spec_import = run_url_import(personas, upstream, url)
    assert spec_import.status == "failed" and spec_import.error_code == "external_ref"
    assert not any(seen.path.endswith("a.json") for seen in upstream.seen)


@pytest.mark.django_db
def test_the_task_time_limit_fails_the_import(personas):
    from celery.exceptions import SoftTimeLimitExceeded

    from integrations import tasks

    spec_import = services.import_pasted(personas.workspace, actor=personas.admin,
                                         text=PETSTORE_30.read_text())
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(services, "run_import",
                   lambda pk: (_ for _ in ()).throw(SoftTimeLimitExceeded()))
        assert tasks.run_spec_import(spec_import.pk) == "failed"
    spec_import.refresh_from_db()
    assert spec_import.status == "failed" and spec_import.error_code == "timeout"
