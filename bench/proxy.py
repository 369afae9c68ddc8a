"""Benchmark the integration proxy: direct calls to a local upstream vs the same calls through
the portal (gunicorn, PostgreSQL, Redis), at concurrency 1 and 16.

Usage: python bench/proxy.py [--seconds 10] [--workers 4] [--threads 8] [--keep-db]

Needs PostgreSQL and Redis: ``BENCH_DATABASE_URL`` (default
postgres://postgres@127.0.0.1:5432/switchboard_bench, dropped and re-created) and ``REDIS_URL``
(default redis://127.0.0.1:6379/3). The portal runs with production settings.

What a proxied call does: service-token auth, rate limit (Redis), integration lookup, path
and query validation against the spec, SSRF check, one credit through the ledger, the
upstream call on a pooled connection, the call log row.

Goals: the proxy adds at most 3 ms at p50 (concurrency 1); at least 400 proxied calls/s with
0 errors at concurrency 16 on a 2-core machine. Everything (client, upstream, gunicorn,
PostgreSQL, Redis) shares the same cores, so the numbers are a floor.

Besides latency and throughput it prints the CPU time the gunicorn workers and the bench
database's PostgreSQL backends spent per proxied call (from /proc), which is much less
sensitive than wall-clock numbers to other work on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET_KEY = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz-not-for-production"
FIELD_KEY = "YmVuY2gtZmllbGQta2V5LTAxMjM0NTY3ODlhYmNkZWY="
UPSTREAM_BODY = json.dumps({"id": 42, "name": "Rex", "tags": ["a", "b"]}).encode()
SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "Bench", "version": "1"},
    "paths": {"/items/{id}": {"get": {
        "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
            {"name": "expand", "in": "query", "schema": {"type": "boolean"}},
        ],
        "responses": {"200": {"description": "ok"}}}}},
}


# --------------------------------------------------------------------------- upstream


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(UPSTREAM_BODY)).encode() + b"\r\n\r\n" + UPSTREAM_BODY)
    try:
        while True:
            header = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in header.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            writer.write(head)
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def run_upstream(port: int) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_serve, "127.0.0.1", port, backlog=512)
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    asyncio.run(main())


# --------------------------------------------------------------------------- load


def _worker(host: str, port: int, method: str, path: str, body: bytes, headers: dict[str, str],
            deadline: float, out: list[float], errors: list[str], start: threading.Barrier
            ) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    start.wait()
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            ok = resp.status == 200 and (method == "GET" or b'"success":true' in data)
            if not ok:
                errors.append(f"{resp.status} {data[:200]!r}")
        except (OSError, http.client.HTTPException) as exc:
            errors.append(repr(exc))
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
            continue
        out.append(time.perf_counter() - t0)
    conn.close()


def _load_process(args: tuple[Any, ...]) -> tuple[list[float], list[str]]:
    host, port, method, path, body, headers, threads, seconds = args
    latencies: list[float] = []
    errors: list[str] = []
    start = threading.Barrier(threads)
    deadline = time.perf_counter() + seconds + 0.2  # (the barrier wait is short)
    pool = [threading.Thread(target=_worker, args=(host, port, method, path, body, headers,
                                                   deadline, latencies, errors, start))
            for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return latencies, errors


def load(port: int, method: str, path: str, body: bytes, headers: dict[str, str],
         concurrency: int, seconds: float) -> dict[str, Any]:
    """``concurrency`` keep-alive connections, spread over up to 4 client processes."""
    procs = min(concurrency, 4)
    per = [concurrency // procs + (1 if i < concurrency % procs else 0) for i in range(procs)]
    jobs = [("127.0.0.1", port, method, path, body, headers, n, seconds) for n in per]
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        results = pool.map(_load_process, jobs)
    elapsed = time.perf_counter() - started - 0.2
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = [e for _, errs in results for e in errs]
    if not latencies:
        return {"n": 0, "errors": len(errors), "first_error": errors[:1], "p50": 0, "p99": 0,
                "rps": 0}

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"n": len(latencies), "errors": len(errors), "first_error": errors[:1],
            "p50": pct(0.50), "p99": pct(0.99), "mean": statistics.fmean(latencies) * 1000,
            "rps": len(latencies) / max(elapsed, 1e-9)}


# --------------------------------------------------------------------------- CPU accounting


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (all their threads), from /proc; 0 for gone ones."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / _TICK


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def server_pids(gunicorn_pid: int, db_url: str) -> dict[str, list[int]]:
    """The gunicorn workers and the PostgreSQL backends serving the bench database."""
    import psycopg

    name = db_url.rsplit("/", 1)[1]
    try:
        with psycopg.connect(db_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                (name,)).fetchall()
        backends = [int(r[0]) for r in rows]
    except Exception:  # not on this host, or no rights: leave PostgreSQL out
        backends = []
    return {"gunicorn": [gunicorn_pid, *_children(gunicorn_pid)], "postgres": backends}


def measure_cpu(find_pids: Any, run: Any) -> tuple[dict[str, Any], dict[str, float]]:
    """Run ``run()``; the CPU seconds each group of server processes spent meanwhile (a
    process that appeared during the run, e.g. a new database backend, counts from zero)."""
    before = {k: {pid: _cpu_seconds([pid]) for pid in v} for k, v in find_pids().items()}
    result = run()
    used = {}
    for group, pids in find_pids().items():
        old = before.get(group, {})
        used[group] = sum(_cpu_seconds([pid]) - old.get(pid, 0.0) for pid in pids)
    return result, used


# --------------------------------------------------------------------------- portal


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def portal_env(db_url: str, redis_url: str, upstream_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET_KEY,
        "FIELD_ENCRYPTION_KEY": FIELD_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "False",
        "EGRESS_ALLOW_CIDRS": "127.0.0.0/8",
        "EGRESS_ALLOWED_PORTS": f"80,443,{upstream_port}",
        "PROXY_RATE_LIMIT_PER_MINUTE": "100000000",  # exercised, never reached
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "600",
    }


def prepare_database(env: dict[str, str], keep: bool, upstream_port: int) -> dict[str, str]:
    """(Re)create the bench database, migrate, and create a workspace, app, service token and
    integration. Returns {"app_id", "token"}."""
    import psycopg

    db_url = env["DATABASE_URL"]
    name = db_url.rsplit("/", 1)[1]
    admin_url = db_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and not keep:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                   env=env, check=True)
    script = f"""
import json, django
django.setup()
from integrations import openapi
from integrations.models import SpecImport, WorkspaceIntegration
from workspaces import credits, services
from workspaces.models import User
spec = json.loads({json.dumps(json.dumps(SPEC))})
user, _ = User.objects.get_or_create(email="bench@switchboard.local")
ws = services.create_workspace(actor=user, name="Bench", plan="pro")
app = services.create_app(ws, actor=user, name="Bench app")
_, token = services.create_service_token(app, actor=user, name="bench")
credits.adjust(ws, 100_000_000, reason="bench", idempotency_key="bench-" + app.public_id)
spec_import = SpecImport.objects.create(workspace=ws, source="paste", raw_text=json.dumps(spec),
                                        status="ready", operations=[{{"key": "get:/items/{{id}}"}}])
WorkspaceIntegration.objects.create(
    workspace=ws, slug="bench", name="Bench", base_url="http://127.0.0.1:{upstream_port}/api",
    spec=spec_import, selected_keys=["get:/items/{{id}}"],
    operations_doc=openapi.extract_operations(spec, ["get:/items/{{id}}"]))
print(json.dumps({{"app_id": app.public_id, "token": token}}))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_gunicorn(env: dict[str, str], port: int, workers: int, threads: int
                   ) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind",
               f"127.0.0.1:{port}", "--workers", str(workers), "--backlog", "512",
               "--keep-alive", "30", "--timeout", "60"]
    if threads > 1:
        command += ["--worker-class", "gthread", "--threads", str(threads)]
    proc = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):  # noqa: S310
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("gunicorn did not start")


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (gthread)")
    parser.add_argument("--keep-db", action="store_true", help="reuse the bench database")
    args = parser.parse_args()

    db_url = os.environ.get("BENCH_DATABASE_URL",
                            "postgres://postgres@127.0.0.1:5432/switchboard_bench")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3")
    upstream_port, portal_port = free_port(), free_port()
    upstream = multiprocessing.get_context("fork").Process(target=run_upstream,
                                                           args=(upstream_port,), daemon=True)
    upstream.start()
    env = portal_env(db_url, redis_url, upstream_port)
    ids = prepare_database(env, args.keep_db, upstream_port)
    gunicorn = start_gunicorn(env, portal_port, args.workers, args.threads)
    try:
        direct = ("GET", "/api/items/7?expand=true", b"", {"Accept": "application/json"})
        proxied = ("POST", f"/api/apps/{ids['app_id']}/integrations/custom/bench/"
                           "get:/items/{id}",
                   json.dumps({"path_params": {"id": 7},
                               "query_params": {"expand": True}}).encode(),
                   {"Authorization": f"Bearer {ids['token']}",
                    "Content-Type": "application/json", "Accept": "application/json",
                    "X-App-Id": ids["app_id"]})
        # warm every worker (config cache, connection pools, DB connections)
        load(portal_port, *proxied, concurrency=16, seconds=2)
        load(upstream_port, *direct, concurrency=4, seconds=1)
        def pids() -> dict[str, list[int]]:
            return server_pids(gunicorn.pid, db_url)

        results: dict[tuple[str, int], dict[str, Any]] = {}
        cpu: dict[int, dict[str, float]] = {}
        for concurrency in (1, 16):
            results[("direct", concurrency)] = load(upstream_port, *direct,
                                                    concurrency=concurrency,
                                                    seconds=args.seconds)
            results[("proxied", concurrency)], cpu[concurrency] = measure_cpu(
                pids, lambda c=concurrency: load(portal_port, *proxied, concurrency=c,
                                                 seconds=args.seconds))
        load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=10)
        upstream.terminate()

    print(f"\nproxy bench: {os.cpu_count()} CPUs, gunicorn {args.workers} workers x "
          f"{args.threads} threads, {args.seconds:g} s per run, PostgreSQL + Redis\n")
    print(f"{'mode':<8} {'conc':>4} {'calls':>7} {'errors':>6} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'calls/s':>8}")
    for (mode, concurrency), r in results.items():
        print(f"{mode:<8} {concurrency:>4} {r['n']:>7} {r['errors']:>6} {r['p50']:>8.2f} "
              f"{r['p99']:>8.2f} {r['rps']:>8.0f}")
        if r["first_error"]:
            print(f"         first error: {r['first_error'][0]}")
    print()
    for concurrency in (1, 16):
        d, p = results[("direct", concurrency)], results[("proxied", concurrency)]
        print(f"concurrency {concurrency:>2}: proxy adds {p['p50'] - d['p50']:.2f} ms at p50 "
              f"({p['p50'] / max(d['p50'], 1e-9):.1f}x), {p['p99'] - d['p99']:.2f} ms at p99; "
              f"throughput {p['rps'] / max(d['rps'], 1e-9):.2f}x of direct")
    print()
    for concurrency in (1, 16):
        n = max(results[("proxied", concurrency)]["n"], 1)
        used = cpu[concurrency]
        per = {k: v / n * 1000 for k, v in used.items()}
        ceiling = (os.cpu_count() or 1) * 1000 / max(sum(per.values()), 1e-9)
        print(f"concurrency {concurrency:>2}: server CPU per proxied call: "
              f"{per['gunicorn']:.2f} ms portal (gunicorn) + {per['postgres']:.2f} ms "
              f"PostgreSQL; those two alone would saturate {os.cpu_count()} idle cores at "
              f"~{ceiling:.0f} calls/s")
    print(f"load average at the end: {load_end:.2f} (other processes on this machine "
          f"share the cores; the ratios above are from the same run)")
    c1, c16 = results[("proxied", 1)], results[("proxied", 16)]
    added = c1["p50"] - results[("direct", 1)]["p50"]
    print(f"\ngoals: +{added:.2f} ms at p50 (c=1, goal <= 3 ms): "
          f"{'met' if added <= 3 else 'NOT met'}; {c16['rps']:.0f} proxied calls/s with "
          f"{c16['errors']} errors (c=16, goal >= 400 and 0): "
          f"{'met' if c16['rps'] >= 400 and not c16['errors'] else 'NOT met'}")


if __name__ == "__main__":
    main()
