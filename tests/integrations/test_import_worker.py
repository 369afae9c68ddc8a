"""Big specs never bloat the web process (issue 13 §3): the web process only streams a spec
body to the storage and the import worker parses it; the operation list comes as soon as the
spec is parsed; imports run on their own queue, in a pool child that exits after each task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import SkipFile
from django.urls import reverse

from integrations import openapi, services, uploads
from integrations.models import SpecImport
from tests.integrations.wizard_support import PETSTORE_30, generated_spec

ROOT = Path(__file__).resolve().parents[2]


def ws_url(personas, name: str, *args: str) -> str:  # type: ignore[no-untyped-def]
    return reverse(name, args=[personas.workspace.public_id, *args])


def stored_bodies() -> list[str]:
    if not default_storage.exists(uploads.UPLOAD_DIR):
        return []
    return default_storage.listdir(uploads.UPLOAD_DIR)[1]


@pytest.fixture
def no_parsing_here(monkeypatch):  # type: ignore[no-untyped-def]
    """Any spec parse in this process fails the test (until ``allow()``)."""
    real = {name: getattr(openapi, name) for name in ("parse_spec", "load_document",
                                                      "parse_document")}

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the web process parsed a spec")

    for name in real:
        monkeypatch.setattr(openapi, name, refuse)

    def allow() -> None:
        for name, fn in real.items():
            monkeypatch.setattr(openapi, name, fn)

    return allow


@pytest.mark.django_db
def test_the_web_process_stores_the_body_and_the_worker_parses_it(
        client, api, personas, settings, no_parsing_here):
    """Every input path (dashboard paste and upload; API envelope, raw YAML, big raw JSON,
    multipart) answers with the import pending and no operations; the worker (run_import,
    here in the test process after the requests) fills them in."""
    settings.INTEGRATIONS_IMPORT_MODE = "worker"  # tasks are queued on commit: never here
    client.force_login(personas.admin)
    text = PETSTORE_30.read_text()
    big = json.dumps(generated_spec(2000))  # over ENVELOPE_PEEK_BYTES: unwrapped by the worker
    assert len(big) > 256 * 1024
    base = f"/api/v1/workspaces/{personas.workspace.public_id}/integrations/imports/"
    token = api(personas.admin)
    ids = []
    response = client.post(ws_url(personas, "integration-new"), {"source": "paste",
                                                                 "spec": text})
    assert response.status_code == 302
    ids.append(response.url.rstrip("/").rsplit("/", 1)[-1])
    response = client.post(ws_url(personas, "integration-new"), {
        "source": "paste", "spec": "", "spec_file": SimpleUploadedFile("s.yaml", text.encode())})
    assert response.status_code == 302
    ids.append(response.url.rstrip("/").rsplit("/", 1)[-1])
    for kwargs in ({"data": {"spec": text}, "format": "json"},
                   {"data": text.encode(), "content_type": "application/yaml"},
                   {"data": big, "content_type": "application/json"},
                   {"data": {"spec": big}, "format": "json"},
                   {"data": {"spec": SimpleUploadedFile("s.yaml", text.encode())},
                    "format": "multipart"}):
        response = token.post(base, **kwargs)
        assert response.status_code == 202, response.content[:300]
        body = response.json()
        assert body["status"] == "pending" and body["operation_count"] == 0
        ids.append(body["id"])
    status = client.get(ws_url(personas, "integration-import-status", ids[0])).json()
    assert status["operations_ready"] is False and status["operation_count"] is None
    page = client.get(ws_url(personas, "integration-import", ids[0])).content.decode()
    assert 'data-testid="import-progress"' in page and 'http-equiv="refresh"' in page
    assert len(stored_bodies()) == len(ids)
    assert SpecImport.objects.filter(operations=[]).count() == len(ids)

    no_parsing_here()  # now the worker
    for public_id in ids:
        spec_import = SpecImport.objects.get(public_id=public_id)
        services.run_import(spec_import.pk)
        spec_import.refresh_from_db()
        assert spec_import.status == "ready", spec_import.error_message
        expected = 2000 if spec_import.title == "Generated API" else 3
        assert len(spec_import.operations) == expected
        assert spec_import.raw_text in (text, big)
    assert stored_bodies() == []  # read, stored in the database, removed


@pytest.mark.django_db
def test_a_paste_the_worker_refuses_comes_back_in_the_editor(client, personas, settings):
    settings.INTEGRATIONS_IMPORT_MODE = "worker"
    client.force_login(personas.admin)
    broken = '{"openapi": "3.0.0", "info": {"title": "typed by hand"'
    response = client.post(ws_url(personas, "integration-new"), {"source": "paste",
                                                                 "spec": broken})
    spec_import = SpecImport.objects.get()
    services.run_import(spec_import.pk)
    page = client.get(response.url).content.decode()
    assert 'data-testid="import-error"' in page and "Not valid JSON" in page
    assert f"?restore={spec_import.public_id}" in page
    editor = client.get(ws_url(personas, "integration-new") + f"?restore={spec_import.public_id}")
    html = editor.content.decode()
    assert 'data-testid="restored"' in html
    assert "{&quot;openapi&quot;: &quot;3.0.0&quot;, &quot;info&quot;: {&quot;title&quot;: " \
           "&quot;typed by hand&quot;" in html
    # another workspace's import is not restored
    other = SpecImport.objects.create(workspace=personas.outsider_workspace, source="paste",
                                      status="failed")
    html = client.get(ws_url(personas, "integration-new") + f"?restore={other.public_id}"
                      ).content.decode()
    assert 'data-testid="restored"' not in html
    services.cleanup_abandoned_imports(days=-1)  # the kept body goes with the import
    assert uploads.find(spec_import.public_id) is None


@pytest.mark.django_db
def test_the_operation_list_comes_before_validation(client, personas, settings, monkeypatch):
    """Parsed, not validated yet: the page lists the operations to select, Continue disabled,
    a selection posted meanwhile is kept; validation's warnings come with the result."""
    settings.INTEGRATIONS_IMPORT_MODE = "worker"
    client.force_login(personas.admin)
    response = client.post(ws_url(personas, "integration-new"),
                           {"source": "paste", "spec": PETSTORE_30.read_text()})
    spec_import = SpecImport.objects.get()
    seen = {}

    def findings(doc):  # type: ignore[no-untyped-def]
        # the moment validation runs: what the web page shows then
        seen["status"] = client.get(ws_url(personas, "integration-import-status",
                                           spec_import.public_id)).json()
        seen["page"] = client.get(response.url).content.decode()
        seen["post"] = client.post(ws_url(personas, "integration-new-operations",
                                          spec_import.public_id),
                                   {"op": ["get:/pets"], "from_import": "1", "recheck": "1"})
        seen["after"] = client.get(response.url).content.decode()
        return [{"message": "something odd", "location": "/paths/~1pets", "code": "w"}]

    monkeypatch.setattr(services, "_findings", findings)
    services.run_import(spec_import.pk)
    assert seen["status"]["operations_ready"] and seen["status"]["operation_count"] == 3
    assert not seen["status"]["done"] and seen["status"]["stage"] == "validating"
    page = seen["page"]
    assert 'data-testid="import-parsed"' in page and 'data-phase="selecting"' in page
    assert 'value="get:/pets"' in page and 'value="get:/pets/{petId}"' in page
    assert 'id="import-continue" disabled' in page
    assert 'http-equiv="refresh"' not in page  # a refresh would lose the selection
    assert seen["post"].status_code == 302
    assert 'value="get:/pets" id="op-0" checked' in seen["after"]
    # done: warnings shown, Continue enabled, the selection still checked
    status = client.get(ws_url(personas, "integration-import-status",
                               spec_import.public_id)).json()
    assert status["done"] and status["warning_count"] == 1
    assert status["warnings"] == [{"message": "something odd", "location": "/paths/~1pets"}]
    page = client.get(response.url).content.decode()
    assert 'data-testid="import-ready"' in page and "something odd" in page
    assert 'id="import-continue" disabled' not in page
    assert 'value="get:/pets" id="op-0" checked' in page
    response = client.post(ws_url(personas, "integration-new-operations",
                                  spec_import.public_id),
                           {"op": ["get:/pets"], "from_import": "1"})
    assert response.url == ws_url(personas, "integration-new-configure", spec_import.public_id)


@pytest.mark.django_db
def test_an_upload_over_the_cap_is_dropped_while_streaming(client, personas, settings,
                                                           monkeypatch, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    monkeypatch.setattr(openapi, "MAX_SPEC_BYTES", 200_000)
    client.force_login(personas.admin)
    before = stored_bodies()
    upload = SimpleUploadedFile("big.json", b"x" * 150_000 + b"y" * 150_000)
    response = client.post(ws_url(personas, "integration-new"),
                           {"source": "paste", "spec": "", "spec_file": upload})
    html = response.content.decode()
    assert response.status_code == 200 and "The file is too large" in html
    assert not SpecImport.objects.exists() and stored_bodies() == before
    assert list(tmp_path.iterdir()) == []  # the partial temporary file was removed


def test_the_handler_refuses_by_content_length_before_writing():
    handler = uploads.SpecUploadHandler(limit=1000)
    handler.handle_raw_input(None, {}, 1000 + uploads.FORM_OVERHEAD + 1, b"b")
    with pytest.raises(SkipFile):
        handler.new_file("spec_file", "a.json", "application/json", 10)
    assert handler.too_large and not hasattr(handler, "file")
    handler = uploads.SpecUploadHandler(limit=1000)
    handler.handle_raw_input(None, {}, 1500, b"b")
    handler.new_file("spec_file", "a.json", "application/json", 10)
    handler.receive_data_chunk(b"x" * 600, 0)
    path = handler.file.temporary_file_path()
    with pytest.raises(SkipFile):
        handler.receive_data_chunk(b"x" * 600, 600)
    assert handler.too_large and not os.path.exists(path)


# --- a real worker on the imports queue ---------------------------------------------------


def _worker(env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config.celery_app", "worker", "-Q", "imports",
         "-P", "prefork", "-c", "1", "--max-tasks-per-child", "1",
         "--max-memory-per-child", "262144", "-n", name, "--loglevel", "WARNING",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _pool_pids(app, name: str) -> list[int]:  # type: ignore[no-untyped-def]
    stats = app.control.inspect(destination=[name], timeout=2).stats() or {}
    return list(stats.get(name, {}).get("pool", {}).get("processes", []))


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_imports_queue_worker_runs_each_import_in_a_child_that_exits(client, personas,
                                                                    settings):
    from config.celery_app import app

    url = os.environ["CELERY_BROKER_URL"]
    db = django_settings.DATABASES["default"]
    name = f"imports-test-{uuid.uuid4().hex[:8]}@localhost"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test",
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "CELERY_BROKER_URL": url, "CELERY_TASK_ALWAYS_EAGER": "False",
           "MEDIA_ROOT": str(django_settings.MEDIA_ROOT)}
    old = {k: app.conf.get(k) for k in ("task_always_eager", "broker_url", "result_backend")}
    app.conf.update(task_always_eager=False, broker_url=url, result_backend=url)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    worker = _worker(env, name)
    try:
        deadline = time.monotonic() + 60
        pids: list[int] = []
        while not pids and time.monotonic() < deadline and worker.poll() is None:
            pids = _pool_pids(app, name)
        assert pids, worker.stderr.read().decode()[-2000:] if worker.poll() is not None else ""
        client.force_login(personas.admin)
        children = []
        for spec in (PETSTORE_30.read_text(), json.dumps(generated_spec(50))):
            response = client.post(ws_url(personas, "integration-new"),
                                   {"source": "paste", "spec": spec})
            assert response.status_code == 302
            public_id = response.url.rstrip("/").rsplit("/", 1)[-1]
            deadline = time.monotonic() + 60
            spec_import = SpecImport.objects.get(public_id=public_id)
            while spec_import.status not in ("ready", "failed"):
                assert time.monotonic() < deadline, spec_import.status
                time.sleep(0.1)
                spec_import.refresh_from_db()
            assert spec_import.status == "ready", spec_import.error_message
            assert spec_import.operations and spec_import.warnings == []
            children.append(pids)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the child that ran it exits, a new one starts
                now = _pool_pids(app, name)
                if now and now != pids:
                    pids = now
                    break
                time.sleep(0.2)
            else:
                raise AssertionError(f"pool child {pids} did not exit after the import")
        assert len({pid for group in children for pid in group}) == 2
        assert stored_bodies() == []
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        app.conf.update(**old)
