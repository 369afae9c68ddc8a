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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--no-validate", action="store_true", help="skip validation")
    args = parser.parse_args(argv)
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
