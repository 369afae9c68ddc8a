"""Import every OpenAPI/Swagger spec in a folder through the service layer, as the worker does,
and report time and memory.

Usage: python bench/spec_import.py [DIR] [--no-validate]

DIR defaults to the shared ``specs`` folder beside the repository. Top-level ``*.json``,
``*.yaml`` and ``*.yml`` files are single specs, imported as pasted (``import_pasted``: read,
sanity pass, operation list, stored) and then run as the task runs them (``run_import``:
validation). A sub-folder whose spec root refers to other files is served by a local HTTP
server and imported from its URL (``start_url_import`` + ``run_import``: fetch through the
egress client, bundling, validation) only when it is one spec: exactly one file in it is a
spec root. Any other sub-folder (e.g. ``broken/``: several roots, some with refs to files that
are not there) is a set of single specs, each benched on its own. DIR itself may be one
multi-file spec (``bench/spec_import.py specs/oai-petstore-separate-2.0``).

Then, per spec: an integration is created with the first 30 operations (``create_integration``:
the stored copy is read again and the refs of the 30 operations extracted), the refs of those
30 operations are resolved (``extract_operations`` + ``operation_schemas``, alone), and the
operation page (step 2) is rendered once. A generated 1,000-operation spec runs last (no real
spec has that many), for the operation page at that size.

It runs on a throw-away SQLite database in a temporary folder. Each spec runs in a forked child
so that "peak" is that import's own peak RSS (interpreter and Django included).

Goals: list ready < 2 s for specs up to 5 MB; full import of the largest real spec < 10 s;
13 MB deref'd spec < 60 s; refusals < 0.5 s; 30 operations' refs < 50 ms; peak < 256 MB;
the operation page of a 1,000-operation spec < 100 ms.
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import re
import resource
import sys
import tempfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DIR = ROOT.parent / "shared" / "specs"
SPEC_SUFFIXES = (".json", ".yaml", ".yml")
_ROOT_MARKER = re.compile(rb'^(?:openapi|swagger)\s*:|"(?:openapi|swagger)"\s*:', re.MULTILINE)


def setup_django(tmp: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.LOGGING_CONFIG = None
    import logging

    logging.disable(logging.WARNING)
    import warnings

    warnings.filterwarnings("ignore", message="No directory at")
    call_command("migrate", verbosity=0, interactive=False)


def spec_files(folder: Path) -> list[Path]:
    """Every JSON/YAML file under ``folder``, shallowest first."""
    return sorted(
        (p for p in folder.rglob("*") if p.suffix in SPEC_SUFFIXES and p.is_file()),
        key=lambda p: (len(p.relative_to(folder).parts), str(p)),
    )


def find_root(folder: Path) -> Path | None:
    """The root of ``folder`` if the folder is one multi-file spec: exactly one file in it is
    a spec root (an ``openapi``/``swagger`` object), and it refers to other files. A folder of
    unrelated specs (several roots, e.g. ``broken/``) or of files that refer to nothing has
    none: each of its files is benched on its own."""
    from integrations import openapi

    roots: list[Path] = []
    for path in spec_files(folder)[:5000]:
        with path.open("rb") as handle:
            head = handle.read(8192)
        if _ROOT_MARKER.search(head):  # broken or not, a root: not one bundle if two
            roots.append(path)
        if len(roots) > 1:
            return None
    if len(roots) != 1:
        return None
    try:
        root_doc = openapi.load_document(roots[0].read_bytes())
    except openapi.SpecError:
        return None
    return roots[0] if openapi.find_external_refs(root_doc) else None


def synthetic_spec(count: int) -> dict[str, Any]:
    """An OpenAPI 3.0 spec with ``count`` operations, each with a parameter and a body."""
    paths: dict[str, Any] = {}
    for i in range(count):
        paths[f"/resources{i // 4}/{{id}}/op{i}"] = {"post": {
            "operationId": f"operation{i}", "summary": f"Operation number {i}",
            "tags": [f"group{i // 25}"],
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Thing"}}}},
            "responses": {"200": {"description": "ok"}}}}
    return {"openapi": "3.0.3", "info": {"title": "Generated", "version": "1"},
            "servers": [{"url": "https://api.example.com"}], "paths": paths,
            "components": {"schemas": {"Thing": {"type": "object", "properties": {
                "name": {"type": "string"}}}}}}


def collect(folder: Path) -> list[tuple[str, Path, Path | None]]:
    """``(name, spec file, bundle folder or None)`` for every spec in ``folder``."""
    jobs: list[tuple[str, Path, Path | None]] = []
    root = find_root(folder)
    if root is not None:  # DIR itself is one multi-file spec
        return [(f"{folder.name}/ (bundled)", root, folder)]
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in SPEC_SUFFIXES:
            jobs.append((path.name, path, None))
        elif path.is_dir():
            root = find_root(path)
            if root is not None:
                jobs.append((f"{path.name}/ (bundled)", root, path))
            else:  # unrelated specs: each on its own
                for child in spec_files(path):
                    jobs.append((f"{path.name}/{child.relative_to(path).as_posix()}", child,
                                 None))
    return jobs


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def serve_folder(folder: Path) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0),
                                 partial(_QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def import_one(spec: Path, bundle_url: str | None, validate: bool) -> dict[str, Any]:
    from django.test import Client

    from integrations import openapi, services
    from integrations.models import SpecImport
    from workspaces.models import User, Workspace

    user = User.objects.get(email="bench@example.com")
    workspace = Workspace.objects.get(name="Bench")
    result: dict[str, Any] = {"bytes": spec.stat().st_size}
    started = time.perf_counter()
    try:
        if bundle_url is None:
            spec_import = services.import_pasted(workspace, actor=user, text=spec.read_bytes())
            result["parse_s"] = time.perf_counter() - started
        else:
            spec_import = services.start_url_import(workspace, actor=user, url=bundle_url)
    except services.IntegrationError as exc:
        result.update(refused=f"{exc.code}: {exc.message}", parse_s=time.perf_counter() - started)
        return result
    t0 = time.perf_counter()
    services.run_import(spec_import.pk)
    spec_import = SpecImport.objects.get(pk=spec_import.pk)
    if bundle_url is not None:
        result["parse_s"] = time.perf_counter() - t0
    else:
        result["validate_s"] = time.perf_counter() - t0
    if spec_import.status != SpecImport.Status.READY:
        result.update(refused=f"{spec_import.error_code}: {spec_import.error_message}")
        return result
    result["ops"] = len(spec_import.operations)
    result["spec"] = spec_import.spec_version
    result["warnings"] = len(spec_import.warnings)
    keys = [op["key"] for op in spec_import.operations[:30]]
    if keys:
        doc = services.load_stored_doc(spec_import)
        gc.collect()  # not a collection of the big document inside the measurement
        t0 = time.perf_counter()
        sub = openapi.extract_operations(doc, keys)
        for key in keys:
            openapi.operation_schemas(sub, key)
        result["extract_ms"] = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        services.create_integration(workspace, actor=user, spec_import=spec_import,
                                    slug=f"bench-{spec_import.pk}", name="Bench",
                                    base_url="https://api.example.com", operation_keys=keys)
        result["create_s"] = time.perf_counter() - t0
        client = Client()
        client.force_login(user)
        url = f"/w/{workspace.public_id}/integrations/imports/{spec_import.public_id}/operations/"
        client.get(url)
        t0 = time.perf_counter()
        response = client.get(url)
        result["page_ms"] = (time.perf_counter() - t0) * 1000
        assert response.status_code == 200, response.status_code
    result["total_s"] = time.perf_counter() - started
    return result


def _child(conn: Any, spec: Path, bundle_url: str | None, validate: bool) -> None:
    from django.db import connections

    connections.close_all()
    try:
        result = import_one(spec, bundle_url, validate)
    except Exception as exc:  # report, do not hang the parent
        result = {"crash": f"{type(exc).__name__}: {str(exc)[:200]}"}
    # ru_maxrss is in KiB on Linux
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send(result)
    conn.close()


def run_forked(spec: Path, bundle_url: str | None, validate: bool) -> dict[str, Any]:
    from django.db import connections

    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(child, spec, bundle_url, validate))
    process.start()
    child.close()
    result = parent.recv()
    process.join()
    return result


# --- --memory: web and worker RSS of big imports (issue 13 §3) ---------------------------


def _proc_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak(pid: int) -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as handle:  # resets VmHWM (Linux >= 4.0)
        handle.write("5")


def _web_server(conn: Any) -> None:
    """The web process: Django's WSGI app on a plain single-threaded server. Import tasks are
    not sent anywhere (the bench runs the worker side itself)."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from django.core.wsgi import get_wsgi_application
    from django.db import connections

    from integrations import services

    connections.close_all()
    services._schedule_import = lambda spec_import: None

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=Quiet)
    conn.send(server.server_port)
    server.serve_forever()


def _post_file(port: int, path: str, token: str, body: Path, content_type: str
               ) -> tuple[int, dict[str, Any]]:
    """POST a file as the body, streamed, with its Content-Length."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        with body.open("rb") as handle:
            connection.request("POST", path, body=handle, headers={
                "Authorization": f"Bearer {token}", "Content-Type": content_type,
                "Content-Length": str(body.stat().st_size)})
            response = connection.getresponse()
            data = response.read()
    except (BrokenPipeError, ConnectionResetError):
        return 0, {"detail": "the server closed the connection before reading the body"}
    finally:
        connection.close()
    try:
        return response.status, json.loads(data)
    except ValueError:
        return response.status, {"detail": data[:200].decode("utf-8", "replace")}


def _multipart(spec: Path, out: Path) -> str:
    boundary = "----bench" + os.urandom(8).hex()
    with out.open("wb") as handle:
        handle.write(f"--{boundary}\r\nContent-Disposition: form-data; name=\"spec\"; "
                     f"filename=\"{spec.name}\"\r\nContent-Type: application/octet-stream"
                     f"\r\n\r\n".encode())
        with spec.open("rb") as src:
            while chunk := src.read(1 << 20):
                handle.write(chunk)
        handle.write(f"\r\n--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}"


def _worker_child(conn: Any, pk: int) -> None:
    """One import task in a fresh child, as an `imports` worker runs it
    (--max-tasks-per-child 1): RSS before, peak during."""
    from django.db import connections

    from integrations import services
    from integrations.models import SpecImport

    connections.close_all()
    before = _proc_kb(os.getpid(), "VmRSS")
    t0 = time.perf_counter()
    services.run_import(pk)
    spec_import = SpecImport.objects.defer("raw_text").get(pk=pk)
    conn.send({"before_mb": before / 1024, "peak_mb": _proc_kb(os.getpid(), "VmHWM") / 1024,
               "s": time.perf_counter() - t0, "status": spec_import.status,
               "ops": len(spec_import.operations), "error": spec_import.error_message[:80]})


def _run_worker(pk: int) -> dict[str, Any]:
    from django.db import connections

    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_worker_child, args=(child, pk))
    process.start()
    child.close()
    result = parent.recv()
    process.join()
    return result


def memory_main(tmp: Path, repeat: int) -> int:
    """Web and worker RSS for big imports through the admin API of a real (single-threaded
    WSGI) web process, plus a refused 53 MB body. Goals: web growth < 30 MB per import
    (peak over the idle process), worker peak < 256 MB."""
    from django.conf import settings

    from integrations import openapi
    from integrations.models import SpecImport
    from workspaces import services as ws_services
    from workspaces.models import User

    settings.INTEGRATIONS_IMPORT_MODE = "worker"  # the web process only stores the body
    user = User.objects.create_user("bench@example.com", "bench-password-1")
    workspace = ws_services.create_workspace(actor=user, name="Bench", plan="builder")
    _, token = ws_services.create_personal_token(actor=user, name="bench")
    path = f"/api/v1/workspaces/{workspace.public_id}/integrations/imports/"
    openapi.validate({"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": {}})
    # a 16 MB spec (the paste) and a 53 MB body (its refusal)
    big = tmp / "generated-16mb.json"
    spec = synthetic_spec(1000)
    spec["info"]["description"] = "padding " * (15 * 1024 * 1024 // 8)
    big.write_text(json.dumps(spec))
    del spec
    huge = tmp / "refused-53mb.json"
    with huge.open("wb") as handle:
        handle.write(b'{"openapi": "3.0.0", "info": {"title": "x", "version": "1"}, "x": "')
        handle.write(b"y" * (53 * 1024 * 1024))
        handle.write(b'"}')
    box = DEFAULT_DIR / "box-3.0.deref.json"
    stripe = DEFAULT_DIR / "stripe-2022-04-3.0.json"
    upload = tmp / "box-upload.multipart"
    upload_type = _multipart(box, upload)
    cases = [("stripe 4 MB, JSON body", stripe, "application/json"),
             ("box deref 13 MB, JSON body", box, "application/json"),
             ("box deref 13 MB, file upload", upload, upload_type),
             ("generated 16 MB, JSON body", big, "application/json"),
             ("refused 53 MB body", huge, "application/json")]
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    from django.db import connections

    connections.close_all()
    web = ctx.Process(target=_web_server, args=(child,), daemon=True)
    web.start()
    port = parent.recv()
    small = DEFAULT_DIR / "oai-petstore-3.0.yaml"
    _post_file(port, path, token, small, "application/yaml")  # warm the web process up
    idle = _proc_kb(web.pid, "VmRSS") / 1024
    print(f"web process idle (after one small import): {idle:.0f} MB RSS")
    print(f"{'case':34} {'MB':>6} {'HTTP':>4} {'web before':>10} {'web peak':>8} "
          f"{'web after':>9} {'growth':>6} {'worker peak':>11} {'worker s':>8}  result")
    worst_growth = worst_worker = 0.0
    for _ in range(repeat):
        for label, body, content_type in cases:
            before = _proc_kb(web.pid, "VmRSS") / 1024
            _reset_peak(web.pid)
            status, answer = _post_file(port, path, token, body, content_type)
            peak = _proc_kb(web.pid, "VmHWM") / 1024
            after = _proc_kb(web.pid, "VmRSS") / 1024
            growth = peak - before
            worst_growth = max(worst_growth, growth)
            worker: dict[str, Any] = {}
            result = answer.get("detail", "")[:60] if status != 202 else ""
            if status == 202:
                pk = SpecImport.objects.get(public_id=answer["id"]).pk
                worker = _run_worker(pk)
                worst_worker = max(worst_worker, worker["peak_mb"])
                result = f"{worker['status']}, {worker['ops']} operations {worker['error']}"
            print(f"{label:34} {body.stat().st_size / 1048576:6.1f} {status:4d} {before:10.0f} "
                  f"{peak:8.0f} {after:9.0f} {growth:6.0f} "
                  f"{worker.get('peak_mb', 0):11.0f} {worker.get('s', 0):8.2f}  {result}")
    web.terminate()
    print(f"summary: web growth per request at most {worst_growth:.0f} MB (goal < 30), "
          f"worker peak at most {worst_worker:.0f} MB (goal < 256)")
    return 0 if worst_growth < 30 and worst_worker < 256 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--no-validate", action="store_true", help="skip validation")
    parser.add_argument("--memory", action="store_true",
                        help="web and worker RSS of big imports through a real web process")
    parser.add_argument("--repeat", type=int, default=1, help="--memory: rounds")
    args = parser.parse_args(argv)
    if args.memory:
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["MEDIA_ROOT"] = str(Path(tmp) / "media")
            setup_django(Path(tmp))
            return memory_main(Path(tmp), args.repeat)
    if not args.folder.is_dir():
        print(f"not a folder: {args.folder}", file=sys.stderr)
        return 2
    if os.name != "posix":
        print("needs fork (POSIX)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(Path(tmp))
        from django.conf import settings

        from integrations import openapi, services
        from workspaces import services as ws_services
        from workspaces.models import User

        user = User.objects.create_user("bench@example.com", "bench-password-1")
        ws_services.create_workspace(actor=user, name="Bench", plan="builder")
        services._schedule_import = lambda spec_import: None  # the bench is the worker
        if args.no_validate:
            services._findings = lambda doc: []
        settings.INTEGRATIONS_BUNDLE_MAX_FILES = 10_000
        # warm the imports (jsonschema, openapi-spec-validator) once, outside the measurements
        openapi.validate({"openapi": "3.0.0", "info": {"title": "t", "version": "1"},
                          "paths": {}})
        jobs = collect(args.folder)
        # No real spec here has 1,000 operations: a generated one measures the operation page
        # (search box and checkboxes for every operation) at that size.
        synthetic = Path(tmp) / "synthetic-1000-operations.json"
        synthetic.write_text(json.dumps(synthetic_spec(1000)))
        jobs.append(("(generated) 1,000 operations", synthetic, None))
        servers: dict[Path, ThreadingHTTPServer] = {}
        print(f"{'spec':44} {'MB':>6} {'ops':>5} {'warn':>4} {'list s':>7} {'valid s':>7} "
              f"{'30 ops ms':>9} {'create s':>8} {'page ms':>7} {'total s':>7} {'peak MB':>7}")
        slowest: tuple[float, str] = (0.0, "")
        refused = crashed = 0
        for name, spec, bundle_dir in jobs:
            url = None
            if bundle_dir is not None:
                server = servers.get(bundle_dir) or serve_folder(bundle_dir)
                servers[bundle_dir] = server
                port = server.server_address[1]
                settings.EGRESS_ALLOW_CIDRS = ["127.0.0.0/8"]
                settings.EGRESS_ALLOWED_PORTS = [80, 443, port]
                url = f"http://127.0.0.1:{port}/{spec.relative_to(bundle_dir).as_posix()}"
            r = run_forked(spec, url, not args.no_validate)
            size = r.get("bytes", 0) / 1048576
            if "crash" in r:
                crashed += 1
                print(f"{name:44} {size:6.2f} CRASH {r['crash']}")
                continue
            if "refused" in r:
                refused += 1
                print(f"{name:44} {size:6.2f} {'-':>5} {'-':>4} {r.get('parse_s', 0):7.3f} "
                      f"{'':>7} {'':>9} {'':>8} {'':>7} {r.get('parse_s', 0):7.3f} "
                      f"{r['peak_mb']:7.0f}  refused {r['refused'][:100]}")
                continue
            total = r["total_s"]
            slowest = max(slowest, (total, name))
            print(f"{name:44} {size:6.2f} {r['ops']:5d} {r.get('warnings', '-'):>4} "
                  f"{r['parse_s']:7.3f} {r.get('validate_s', 0):7.3f} "
                  f"{r.get('extract_ms', 0):9.1f} {r.get('create_s', 0):8.3f} "
                  f"{r.get('page_ms', 0):7.1f} {total:7.3f} {r['peak_mb']:7.0f}")
        for server in servers.values():
            server.shutdown()
        print(f"summary: slowest {slowest[1]} ({slowest[0]:.2f} s); {refused} refused, "
              f"{crashed} crashed")
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
