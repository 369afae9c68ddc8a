"""Import every OpenAPI/Swagger spec in a folder and report time and memory.

Usage: python bench/spec_import.py [DIR] [--no-validate] [--in-process]

DIR defaults to the shared ``specs`` folder beside the repository. Top-level ``*.json``,
``*.yaml`` and ``*.yml`` files are single specs; a sub-folder whose spec root refers to other
files is bundled through a local ``fetch`` (URL paths map to the folder); any other sub-folder
(e.g. ``broken/``) is a set of single specs.

Per spec: operation list ready (``parse_spec``), validation (``validate``) and the refs of the
first 30 operations (``extract_operations``). Each spec runs in a forked child process so that
"peak" is that import's own peak RSS (it includes the interpreter, ~50-70 MB); with
``--in-process`` it is the tracemalloc peak instead (Python allocations only, 3-4x slower).

Goals: list ready < 2 s for specs up to 5 MB; full import of the largest real spec < 10 s;
13 MB deref'd spec < 60 s; refusals < 0.5 s; 30 operations' refs < 50 ms; peak < 256 MB.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from integrations import openapi  # noqa: E402

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "specs"
SPEC_SUFFIXES = (".json", ".yaml", ".yml")
BENCH_ORIGIN = "https://specs.bench.invalid"
_ROOT_MARKER = re.compile(rb'^(?:openapi|swagger)\s*:|"(?:openapi|swagger)"\s*:', re.MULTILINE)


def local_fetch(folder: Path) -> Callable[[str], bytes]:
    """A ``fetch`` for ``openapi.bundle`` that serves ``folder`` as ``BENCH_ORIGIN``."""
    root = folder.resolve()

    def fetch(url: str) -> bytes:
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != BENCH_ORIGIN:
            raise ValueError(f"unexpected origin: {url}")
        path = (root / unquote(parts.path).lstrip("/")).resolve()
        if root not in path.parents:
            raise ValueError(f"outside the folder: {url}")
        return path.read_bytes()

    return fetch


def find_root(folder: Path) -> Path | None:
    """The shallowest file in ``folder`` that looks like a spec root and refers to others."""
    candidates = sorted(
        (p for p in folder.rglob("*") if p.suffix in SPEC_SUFFIXES and p.is_file()),
        key=lambda p: (len(p.relative_to(folder).parts), str(p)),
    )
    for path in candidates[:200]:
        data = path.read_bytes()
        if not _ROOT_MARKER.search(data[:8192]) or b"$ref" not in data:
            continue
        try:
            doc = openapi.load_document(data)
        except openapi.SpecError:
            continue
        if openapi.find_external_refs(doc):
            return path
    return None


def collect(folder: Path) -> list[tuple[str, Path, Path | None]]:
    """``(name, spec file, bundle folder or None)`` for every spec in ``folder``."""
    jobs: list[tuple[str, Path, Path | None]] = []
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in SPEC_SUFFIXES:
            jobs.append((path.name, path, None))
        elif path.is_dir():
            root = find_root(path)
            if root is not None:
                jobs.append((f"{path.name}/ (bundled)", root, path))
            else:
                for child in sorted(path.iterdir()):
                    if child.is_file() and child.suffix in SPEC_SUFFIXES:
                        jobs.append((f"{path.name}/{child.name}", child, None))
    return jobs


def import_one(spec: Path, bundle_dir: Path | None, validate: bool) -> dict[str, Any]:
    """One import through openapi.py; the lead will switch this to the service layer."""
    result: dict[str, Any] = {"bytes": spec.stat().st_size}
    started = time.perf_counter()
    try:
        data = spec.read_bytes()
        if bundle_dir is not None:
            url = BENCH_ORIGIN + "/" + spec.relative_to(bundle_dir).as_posix()
            parsed = openapi.parse_spec(
                data, source_url=url, fetch=local_fetch(bundle_dir), max_files=10_000
            )
        else:
            parsed = openapi.parse_spec(data)
    except openapi.SpecError as exc:
        result.update(refused=f"{exc.code}: {exc.message}", parse_s=time.perf_counter() - started)
        return result
    result["parse_s"] = time.perf_counter() - started
    result["ops"] = len(parsed.operations)
    result["spec"] = parsed.info.spec_label
    if validate:
        t0 = time.perf_counter()
        findings = openapi.validate(parsed.doc)
        result["validate_s"] = time.perf_counter() - t0
        result["warnings"] = len(findings)
    t0 = time.perf_counter()
    sub = openapi.extract_operations(parsed.doc, [op.key for op in parsed.operations[:30]])
    for key in sub[openapi.EXTRACT_KEY]["operations"]:
        openapi.operation_schemas(sub, key)
    result["extract_ms"] = (time.perf_counter() - t0) * 1000
    result["total_s"] = time.perf_counter() - started
    return result


def _child(conn: Any, spec: Path, bundle_dir: Path | None, validate: bool) -> None:
    try:
        result = import_one(spec, bundle_dir, validate)
    except Exception as exc:  # report, do not hang the parent
        result = {"crash": f"{type(exc).__name__}: {str(exc)[:200]}"}
    # ru_maxrss is in KiB on Linux
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    conn.send(result)
    conn.close()


def run_forked(spec: Path, bundle_dir: Path | None, validate: bool) -> dict[str, Any]:
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(child, spec, bundle_dir, validate))
    process.start()
    child.close()
    result = parent.recv()
    process.join()
    return result


def run_in_process(spec: Path, bundle_dir: Path | None, validate: bool) -> dict[str, Any]:
    tracemalloc.start()
    try:
        result = import_one(spec, bundle_dir, validate)
        result["peak_mb"] = tracemalloc.get_traced_memory()[1] / 1048576
    finally:
        tracemalloc.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--no-validate", action="store_true", help="skip validate()")
    parser.add_argument("--in-process", action="store_true", help="tracemalloc, no fork")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"not a folder: {args.folder}", file=sys.stderr)
        return 2
    run = run_in_process if args.in_process or os.name != "posix" else run_forked
    validate = not args.no_validate
    # warm the imports (jsonschema, openapi-spec-validator) once, outside the measurements
    openapi.validate({"openapi": "3.0.0", "info": {"title": "t", "version": "1"}, "paths": {}})

    print(
        f"{'spec':48} {'MB':>6} {'ops':>5} {'warn':>4} {'list s':>7} {'valid s':>7} "
        f"{'30 ops ms':>9} {'total s':>7} {'peak MB':>7}"
    )
    slowest: tuple[float, str] = (0.0, "")
    refused = crashed = 0
    for name, spec, bundle_dir in collect(args.folder):
        r = run(spec, bundle_dir, validate)
        size = r.get("bytes", 0) / 1048576
        if "crash" in r:
            crashed += 1
            print(f"{name:48} {size:6.2f} CRASH {r['crash']}")
            continue
        if "refused" in r:
            refused += 1
            print(
                f"{name:48} {size:6.2f} {'-':>5} {'-':>4} {r['parse_s']:7.3f} {'':>7} {'':>9} "
                f"{r['parse_s']:7.3f} {r['peak_mb']:7.0f}  refused {r['refused'][:110]}"
            )
            continue
        total = r["total_s"]
        slowest = max(slowest, (total, name))
        print(
            f"{name:48} {size:6.2f} {r['ops']:5d} {r.get('warnings', '-'):>4} "
            f"{r['parse_s']:7.3f} {r.get('validate_s', 0):7.3f} {r['extract_ms']:9.1f} "
            f"{total:7.3f} {r['peak_mb']:7.0f}"
        )
    print(
        f"summary: slowest {slowest[1]} ({slowest[0]:.2f} s); {refused} refused, {crashed} crashed"
    )
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
