"""Benchmark the integration proxy at real traffic shapes: direct calls to a local upstream vs
the same calls through the portal (production gunicorn config, PostgreSQL, Redis), sweeping
upstream delay (0, 100 ms, 1 s) x concurrency (1, 16, 64, 256; 1,000 for the 1 s upstream).

Usage: python bench/proxy.py [--quick] [--seconds 8] [--workers 4] [--json PATH] [--keep-db]
       [--worker-class gevent|gthread] [--threads 4]
       python bench/proxy.py --profile N [--top 15] [--json PATH]   (the profile only)

Needs PostgreSQL and Redis: ``BENCH_DATABASE_URL`` (default
postgres://postgres@127.0.0.1:5432/switchboard_bench, dropped and re-created) and ``REDIS_URL``
(default redis://127.0.0.1:6379/3). The portal runs ``config/gunicorn.conf.py`` with production
settings (gevent workers, DB_POOL_MAX_SIZE=8 per worker).

Each cell: direct and proxied calls/s in the same run, their ratio, proxied p50/p99 (and the
direct p50), errors. Also: server CPU per proxied call (gunicorn workers + the bench
database's PostgreSQL backends, from /proc), SQL statements per call, the in-process CPU
time of a warm proxied call and its top cProfile entries by cumulative and by own CPU time
(``--profile N`` runs only that: N warm calls through the whole Django stack), peak RSS of
the portal processes, the most PostgreSQL connections seen on the bench database, /healthz
latency idle and while the heaviest cell runs, and a stalled-upstream scenario (500 calls
hanging while /healthz, a dashboard page and another app's fast calls are measured).
Everything (clients, upstream, portal, PostgreSQL, Redis) shares the same cores, so absolute
numbers are a floor: compare ratios of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import signal
import socket
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
DELAYS = {"d0": 0.0, "d100": 0.1, "d1000": 1.0, "stall": 12.0}  # stall: beyond the run
CELLS = [(0, 1), (0, 16), (0, 64), (0, 256), (100, 1), (100, 16), (100, 64), (100, 256),
         (1000, 1), (1000, 16), (1000, 64), (1000, 256), (1000, 1000)]
SLUG = {0: "d0", 100: "d100", 1000: "d1000"}
STALLED = 500


# --------------------------------------------------------------------------- upstream


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(UPSTREAM_BODY)).encode() + b"\r\n\r\n" + UPSTREAM_BODY)
    try:
        while True:
            header = await reader.readuntil(b"\r\n\r\n")
            first = header.split(b"\r\n", 1)[0].split(b" ")
            prefix = first[1].split(b"/")[1].decode() if len(first) > 1 else ""
            length = 0
            for line in header.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            delay = DELAYS.get(prefix, 0.0)
            if delay:
                await asyncio.sleep(delay)
            writer.write(head)
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


def run_upstream(port: int) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_serve, "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()

    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    asyncio.run(main())


# --------------------------------------------------------------------------- load (asyncio)


def _request_bytes(method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in
                                                               headers.items())]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _one_connection(port: int, raw: bytes, deadline: float, out: list[float],
                          errors: list[str], ok_marker: bytes | None) -> None:
    reader = writer = None
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
            assert reader is not None
            writer.write(raw)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 40)
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            data = await reader.readexactly(length) if length else b""
            status = int(head.split(b" ", 2)[1])
            if status != 200 or (ok_marker is not None and ok_marker not in data):
                errors.append(f"{status} {data[:160]!r}")
                if status >= 500 or status == 429:
                    await asyncio.sleep(0.05)
                continue
            out.append(time.perf_counter() - t0)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            errors.append(repr(exc)[:160])
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.05)
    if writer is not None:
        writer.close()


def _load_process(args: tuple[Any, ...]) -> tuple[list[float], list[str]]:
    port, raw, marker, concurrency, start_at, seconds = args
    latencies: list[float] = []
    errors: list[str] = []

    async def main() -> None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(_one_connection(port, raw, deadline, latencies, errors, marker)
                               for _ in range(concurrency)))

    asyncio.run(main())
    return latencies, errors


def load(port: int, request: tuple[str, str, bytes, dict[str, str]], concurrency: int,
         seconds: float, marker: bytes | None = None) -> dict[str, Any]:
    """``concurrency`` keep-alive connections (asyncio), in 1 or 2 client processes."""
    procs = 1 if concurrency < 64 else 2
    per = [concurrency // procs + (1 if i < concurrency % procs else 0) for i in range(procs)]
    raw = _request_bytes(*request)
    start_at = time.time() + 0.3
    jobs = [(port, raw, marker, n, start_at, seconds) for n in per]
    with multiprocessing.get_context("fork").Pool(procs) as pool:
        results = pool.map(_load_process, jobs)
    latencies = sorted(x for lat, _ in results for x in lat)
    errors = [e for _, errs in results for e in errs]

    def pct(p: float) -> float:
        if not latencies:
            return 0.0
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"n": len(latencies), "errors": len(errors), "first_error": errors[:1],
            "p50": pct(0.50), "p99": pct(0.99), "rps": len(latencies) / seconds}


# --------------------------------------------------------------------------- /proc sampling


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Server:
    """The portal's processes and the bench database's PostgreSQL backends."""

    def __init__(self, gunicorn_pid: int, db_url: str) -> None:
        import psycopg

        self.gunicorn_pid = gunicorn_pid
        self.name = db_url.rsplit("/", 1)[1]
        self.admin = psycopg.connect(db_url.rsplit("/", 1)[0] + "/postgres", autocommit=True)
        self.peak_rss = 0.0
        self.peak_pg = 0

    def portal_pids(self) -> list[int]:
        return [self.gunicorn_pid, *_children(self.gunicorn_pid)]

    def backends(self) -> list[int]:
        rows = self.admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                  (self.name,)).fetchall()
        return [int(r[0]) for r in rows]

    def cpu(self) -> dict[str, dict[int, float]]:
        return {"portal": {p: _cpu_seconds(p) for p in self.portal_pids()},
                "postgres": {p: _cpu_seconds(p) for p in self.backends()}}

    def sample(self) -> None:
        self.peak_rss = max(self.peak_rss, sum(_rss_mb(p) for p in self.portal_pids()))
        self.peak_pg = max(self.peak_pg, len(self.backends()))


class Sampler(threading.Thread):
    """Samples RSS and PostgreSQL connections (and, optionally, /healthz) during a run."""

    def __init__(self, server: Server, healthz_url: str | None = None) -> None:
        super().__init__(daemon=True)
        self.server, self.healthz_url = server, healthz_url
        self.stop = threading.Event()
        self.healthz: list[float] = []

    def run(self) -> None:
        while not self.stop.is_set():
            self.server.sample()
            if self.healthz_url:
                self.healthz.append(time_get(self.healthz_url))
            self.stop.wait(0.2)


def time_get(url: str, cookie: str | None = None) -> float:
    """ms for one GET (a failure counts as 30 s)."""
    started = time.perf_counter()
    try:
        req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
            resp.read()
    except OSError:
        return 30_000.0
    return (time.perf_counter() - started) * 1000


def measured(server: Server, run: Any, healthz_url: str | None = None
             ) -> tuple[dict[str, Any], dict[str, float], list[float]]:
    before = server.cpu()
    sampler = Sampler(server, healthz_url)
    sampler.start()
    try:
        result = run()
    finally:
        sampler.stop.set()
        sampler.join()
    after = server.cpu()
    used = {g: sum(v - before[g].get(p, 0.0) for p, v in after[g].items()) for g in after}
    return result, used, sampler.healthz


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2] if values else 0.0


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
        "PROXY_MAX_IN_FLIGHT_PER_APP": "5000",  # exercised, never reached
        "PROXY_MAX_IN_FLIGHT_PER_INTEGRATION": "5000",
        "PROXY_TIMEOUT_SECONDS": "30",
        "LOG_LEVEL": "WARNING",
    }


def prepare_database(env: dict[str, str], keep: bool, upstream_port: int) -> dict[str, str]:
    """(Re)create the bench database, migrate, and create a workspace, two apps with service
    tokens, one integration per upstream delay, and a signed-in dashboard session."""
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
    # production settings serve hashed static files (pages 500 without the manifest)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
                   cwd=ROOT, env=env, check=True)
    script = f"""
import json, django
django.setup()
from django.conf import settings
from django.test import Client
from integrations import openapi
from integrations.models import SpecImport, WorkspaceIntegration
from workspaces import credits, services
from workspaces.models import User
spec = json.loads({json.dumps(json.dumps(SPEC))})
user, _ = User.objects.get_or_create(email="bench@switchboard.local")
ws = services.create_workspace(actor=user, name="Bench", plan="pro")
out = {{"workspace": ws.public_id}}
for key in ("app", "other"):
    app = services.create_app(ws, actor=user, name="Bench " + key)
    _, token = services.create_service_token(app, actor=user, name="bench")
    out[key] = {{"app_id": app.public_id, "token": token}}
credits.adjust(ws, 100_000_000, reason="bench", idempotency_key="bench-" + ws.public_id)
spec_import = SpecImport.objects.create(workspace=ws, source="paste", raw_text=json.dumps(spec),
                                        status="ready", operations=[{{"key": "get:/items/{{id}}"}}])
for slug in {json.dumps(list(DELAYS))}:
    WorkspaceIntegration.objects.create(
        workspace=ws, slug=slug, name=slug, base_url="http://127.0.0.1:{upstream_port}/" + slug,
        spec=spec_import, selected_keys=["get:/items/{{id}}"],
        operations_doc=openapi.extract_operations(spec, ["get:/items/{{id}}"]))
client = Client()
client.force_login(user)
name = settings.SESSION_COOKIE_NAME
out["cookie"] = name + "=" + client.cookies[name].value
print(json.dumps(out))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def start_gunicorn(env: dict[str, str], port: int, args: argparse.Namespace
                   ) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.conf.py",
               "config.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers",
               str(args.workers), "--worker-class", args.worker_class]
    if args.worker_class == "gthread":
        command += ["--threads", str(args.threads)]
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


def proxied_request(ids: dict[str, str], slug: str) -> tuple[str, str, bytes, dict[str, str]]:
    return ("POST", f"/api/apps/{ids['app_id']}/integrations/custom/{slug}/get:/items/{{id}}",
            json.dumps({"path_params": {"id": 7}, "query_params": {"expand": True}}).encode(),
            {"Authorization": f"Bearer {ids['token']}", "Content-Type": "application/json",
             "Accept": "application/json", "X-App-Id": ids["app_id"]})


def direct_request(slug: str) -> tuple[str, str, bytes, dict[str, str]]:
    return ("GET", f"/{slug}/items/7?expand=true", b"", {"Accept": "application/json"})


# --------------------------------------------------------------------------- profile


PROFILE_SCRIPT = """
import cProfile, json, pstats, sys, time, django
django.setup()
from django.db import connection
from django.test import Client
ids = json.loads(sys.argv[1]); n = int(sys.argv[2]); top = int(sys.argv[3])
client = Client()
url = f"/api/apps/{ids['app_id']}/integrations/custom/d0/get:/items/{{id}}"
body = json.dumps({"path_params": {"id": 7}, "query_params": {"expand": True}})
hdrs = {"HTTP_AUTHORIZATION": "Bearer " + ids["token"], "HTTP_X_APP_ID": ids["app_id"],
        "HTTP_HOST": "127.0.0.1"}
def call():
    response = client.post(url, body, content_type="application/json", **hdrs)
    assert response.status_code == 200 and b'"success":true' in response.content, response
for _ in range(50):
    call()
count = [0]
def counter(execute, sql, params, many, context):
    count[0] += 1
    return execute(sql, params, many, context)
with connection.execute_wrapper(counter):
    for _ in range(50):
        call()
sql_per_call = count[0] / 50
cpu0, wall0 = time.process_time(), time.perf_counter()
for _ in range(n):
    call()
cpu_ms = (time.process_time() - cpu0) / n * 1000
wall_ms = (time.perf_counter() - wall0) / n * 1000
prof = cProfile.Profile(time.process_time)  # CPU time: waits on sockets don't count
prof.enable()
for _ in range(n):
    call()
prof.disable()
stats = pstats.Stats(prof).stats
def where(fn, line, name):
    fn = fn.split("site-packages/")[-1]
    for root in sys.path:
        if root and fn.startswith(root + "/"):
            fn = fn[len(root) + 1:]
    return f"{fn}:{line}({name})" if line else name
def rows(index):
    # the harness (this script, the test client) is left out: what remains is the server side
    ranked = sorted((kv for kv in stats.items()
                     if not kv[0][0].startswith("<string>") and "django/test/" not in kv[0][0]),
                    key=lambda kv: -kv[1][index])[:top]
    return [{"cum_ms": round(ct / n * 1000, 3), "own_ms": round(tt / n * 1000, 3),
             "calls": round(nc / n, 2), "where": where(*key)}
            for key, (cc, nc, tt, ct, _) in ranked]
# Python function calls per proxied call (server side): deterministic, unlike the timings
py_calls = sum(nc for key, (cc, nc, tt, ct, _) in stats.items()
               if not key[0].startswith("<string>") and "django/test/" not in key[0]) / n
print(json.dumps({"calls": n, "sql_per_call": sql_per_call, "cpu_ms_per_call": cpu_ms,
                  "wall_ms_per_call": wall_ms, "python_calls_per_call": round(py_calls, 1),
                  "cumulative": rows(3), "own": rows(2)}))
"""


def profile(env: dict[str, str], ids: dict[str, str], n: int, top: int = 15) -> dict[str, Any]:
    """N warm proxied calls in one process through the whole Django stack (middleware, DRF,
    token check, proxy, ledger, call log; the real upstream over a socket, the pool like
    under gunicorn): SQL per call, CPU ms per call (without the profiler), and the top
    entries of a cProfile run (CPU time) by cumulative and by own time."""
    done = subprocess.run([sys.executable, "-c", PROFILE_SCRIPT, json.dumps(ids), str(n),
                           str(top)], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"profile run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def print_profile(prof: dict[str, Any]) -> None:
    print(f"\nprofile of {prof['calls']} warm proxied calls (in process: Django test client, "
          "the whole middleware and view stack, instant upstream over a socket):")
    print(f"  CPU {prof['cpu_ms_per_call']:.2f} ms per call (wall "
          f"{prof['wall_ms_per_call']:.2f} ms), {prof.get('python_calls_per_call', 0):,.0f} "
          f"Python function calls, {prof['sql_per_call']:.1f} SQL statements "
          "per call")
    for title in ("cumulative", "own"):
        print(f"\n  top {len(prof[title])} by {title} CPU time, ms per call:")
        print(f"  {'cum ms':>8} {'own ms':>8} {'calls':>6}  where")
        for row in prof[title]:
            print(f"  {row['cum_ms']:>8.3f} {row['own_ms']:>8.3f} {row['calls']:>6g}  "
                  f"{row['where']}")


def stalled(args: argparse.Namespace, ids: dict[str, Any], portal_port: int, server: Server,
            base: str, page: str, idle: list[float], idle_page: list[float], seconds: float
            ) -> dict[str, Any]:
    """500 calls hang on an upstream that answers after 12 s; meanwhile /healthz, a dashboard
    page and another app's calls to the instant upstream are measured (vs idle)."""
    ok = b'"success":true'
    fast_idle = load(portal_port, proxied_request(ids["other"], "d0"), 16, seconds, ok)
    hang = threading.Thread(target=lambda: load(
        portal_port, proxied_request(ids["app"], "stall"), STALLED, 0.5))
    hang.start()
    time.sleep(2.0)  # let them all connect and reach the upstream
    stalled_hz = [time_get(base + "/healthz") for _ in range(30)]
    stalled_page = [time_get(page, ids["cookie"]) for _ in range(10)]
    fast_stalled = load(portal_port, proxied_request(ids["other"], "d0"), 16, seconds, ok)
    server.sample()
    hang.join(timeout=60)
    return {"hanging_calls": STALLED,
            "healthz_idle_p50_ms": round(median(idle), 2),
            "healthz_p50_ms": round(median(stalled_hz), 2),
            "page_idle_p50_ms": round(median(idle_page), 2),
            "page_p50_ms": round(median(stalled_page), 2),
            "other_app_idle_rps": round(fast_idle["rps"], 1),
            "other_app_rps": round(fast_stalled["rps"], 1),
            "other_app_errors": fast_stalled["errors"]}


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 s per measurement (the whole sweep in a few minutes)")
    parser.add_argument("--seconds", type=float, default=None, help="per measurement (8)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--worker-class", default="gevent", choices=["gevent", "gthread"])
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--keep-db", action="store_true", help="reuse the bench database")
    parser.add_argument("--cells", default="", help="only these cells, e.g. 100x64,1000x1000")
    parser.add_argument("--skip-stall", action="store_true", help="no stalled-upstream run")
    parser.add_argument("--skip-profile", action="store_true", help="no cProfile run")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="only profile N warm proxied calls in process (no sweep): CPU "
                             "ms and SQL statements per call, top entries by cumulative and "
                             "own CPU time")
    parser.add_argument("--top", type=int, default=15, help="profile entries shown (15)")
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 8.0)
    cells = CELLS
    if args.cells:
        wanted = {tuple(int(x) for x in c.split("x")) for c in args.cells.split(",")}
        cells = [c for c in CELLS if c in wanted]

    db_url = os.environ.get("BENCH_DATABASE_URL",
                            "postgres://postgres@127.0.0.1:5432/switchboard_bench")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3")
    upstream_port, portal_port = free_port(), free_port()
    upstream = multiprocessing.get_context("fork").Process(target=run_upstream,
                                                           args=(upstream_port,), daemon=True)
    upstream.start()
    env = portal_env(db_url, redis_url, upstream_port)
    ids = prepare_database(env, args.keep_db, upstream_port)
    # the pool as under gunicorn (config/gunicorn.conf.py), so its borrow/return is counted
    profile_env = {**env, "DB_POOL_MAX_SIZE": "2"}
    if args.profile:
        try:
            prof = profile(profile_env, ids["app"], args.profile, args.top)
        finally:
            upstream.terminate()
        print_profile(prof)
        if args.json:
            Path(args.json).write_text(json.dumps({"profile": prof}, indent=2))
            print(f"\nwrote {args.json}")
        return
    prof = ({"calls": 0, "sql_per_call": 0, "cpu_ms_per_call": 0, "wall_ms_per_call": 0,
             "cumulative": [], "own": []} if args.skip_profile
            else profile(profile_env, ids["app"], 300, args.top))
    gunicorn = start_gunicorn(env, portal_port, args)
    server = Server(gunicorn.pid, db_url)
    base = f"http://127.0.0.1:{portal_port}"
    page = f"{base}/w/{ids['workspace']}/integrations/"
    ok = b'"success":true'
    rows: list[dict[str, Any]] = []
    cpu_per: list[tuple[float, float]] = []
    healthz: dict[str, float] = {}
    stall: dict[str, Any] = {}
    try:
        load(portal_port, proxied_request(ids["app"], "d0"), 16, 2, ok)  # warm every worker
        load(upstream_port, direct_request("d0"), 4, 1)
        idle = [time_get(base + "/healthz") for _ in range(30)]
        idle_page = [time_get(page, ids["cookie"]) for _ in range(10)]
        healthz["idle_p50_ms"] = median(idle)
        heaviest = max(cells, key=lambda c: (c[0] * c[1], c[1]))
        for delay, conc in cells:
            slug = SLUG[delay]
            secs = max(seconds, 3.0 if delay >= 1000 else seconds)
            direct = load(upstream_port, direct_request(slug), conc, secs)
            watch = base + "/healthz" if (delay, conc) == heaviest else None
            proxied, used, hz = measured(
                server, lambda s=slug, c=conc, t=secs: load(
                    portal_port, proxied_request(ids["app"], s), c, t, ok), watch)
            if watch:
                healthz["under_load_p50_ms"] = median(hz)
                healthz["under_load_max_ms"] = max(hz) if hz else 0.0
            n = max(proxied["n"], 1)
            if delay == 0 and conc >= 16:
                cpu_per.append((used["portal"] / n * 1000, used["postgres"] / n * 1000))
            rows.append({"delay_ms": delay, "concurrency": conc,
                         "direct_rps": round(direct["rps"], 1),
                         "proxied_rps": round(proxied["rps"], 1),
                         "p50_ms": round(proxied["p50"], 2), "p99_ms": round(proxied["p99"], 2),
                         "direct_p50_ms": round(direct["p50"], 2),
                         "errors": proxied["errors"], "first_error": proxied["first_error"],
                         "cpu_ms_per_call": round((used["portal"] + used["postgres"]) / n
                                                  * 1000, 2)})
            print(f"  {delay:>5} ms x {conc:>4}: direct {direct['rps']:>8.0f}/s, proxied "
                  f"{proxied['rps']:>7.0f}/s, p50 {proxied['p50']:.1f} ms, "
                  f"{proxied['errors']} errors", flush=True)

        # a stalled upstream: 500 calls hang; /healthz, a page and another app's fast calls
        if not args.skip_stall:
            stall = stalled(args, ids, portal_port, server, base, page, idle, idle_page, seconds)
        load_end = os.getloadavg()[0]
    finally:
        gunicorn.terminate()
        gunicorn.wait(timeout=30)
        upstream.terminate()

    cores = os.cpu_count() or 1
    portal_ms = median([p for p, _ in cpu_per])
    pg_ms = median([g for _, g in cpu_per])
    cpu_ms = portal_ms + pg_ms
    ceiling = cores * 1000 / max(cpu_ms, 1e-9)
    result = {
        "cells": rows,
        "healthz": {k: round(v, 2) for k, v in healthz.items()},
        "stalled": stall,
        "cpu_ms_per_call": round(cpu_ms, 2),
        "cpu_ms_per_call_portal": round(portal_ms, 2),
        "cpu_ms_per_call_postgres": round(pg_ms, 2),
        "cpu_ceiling_rps": round(ceiling, 1) if cpu_per else None,
        "sql_per_call": prof["sql_per_call"],
        "python_calls_per_call": prof.get("python_calls_per_call", 0),
        "peak_rss_mb": round(server.peak_rss, 1),
        "pg_connections_max": server.peak_pg,
        "server": {"cores": cores, "workers": args.workers, "worker_class": args.worker_class,
                   "seconds": seconds, "load_average_end": round(load_end, 2)},
        "profile": prof,
    }

    print(f"\nproxy bench: {cores} CPUs, gunicorn {args.workers} x {args.worker_class}, "
          f"{seconds:g} s per measurement, PostgreSQL + Redis\n")
    print("| upstream delay | concurrency | direct calls/s | proxied calls/s | ratio | "
          "proxied p50 / p99 ms | direct p50 ms | errors |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = r["proxied_rps"] / max(r["direct_rps"], 1e-9)
        print(f"| {r['delay_ms']} ms | {r['concurrency']} | {r['direct_rps']:,.0f} | "
              f"{r['proxied_rps']:,.0f} | {ratio:.2f}x | {r['p50_ms']:.1f} / {r['p99_ms']:.1f} | "
              f"{r['direct_p50_ms']:.1f} | {r['errors']} |")
    for r in rows:
        if r["first_error"]:
            print(f"first error at {r['delay_ms']} ms x {r['concurrency']}: {r['first_error'][0]}")
    if cpu_per:
        print(f"\nserver CPU per proxied call (instant upstream, c>=16): {portal_ms:.2f} ms portal"
              f" + {pg_ms:.2f} ms PostgreSQL = {cpu_ms:.2f} ms; CPU ceiling {cores} x 1000 / "
              f"{cpu_ms:.2f} = {ceiling:.0f} calls/s")
    else:
        print("\nserver CPU per proxied call: not measured (no instant-upstream cell with "
              "c >= 16)")
    sql = f"{prof['sql_per_call']:.1f}" if prof["calls"] else "not measured (--skip-profile)"
    print(f"SQL statements per proxied call: {sql}; peak portal RSS "
          f"{server.peak_rss:.0f} MB; PostgreSQL connections (max seen) {server.peak_pg}")
    print(f"/healthz: idle p50 {healthz.get('idle_p50_ms', 0):.1f} ms; during the heaviest cell "
          f"p50 {healthz.get('under_load_p50_ms', 0):.1f} ms, max "
          f"{healthz.get('under_load_max_ms', 0):.1f} ms")
    if stall:
        print(f"stalled upstream ({STALLED} calls hanging): /healthz p50 "
              f"{stall['healthz_p50_ms']:.1f} ms (idle {stall['healthz_idle_p50_ms']:.1f}), "
              f"dashboard page p50 {stall['page_p50_ms']:.1f} ms (idle "
              f"{stall['page_idle_p50_ms']:.1f}), another app {stall['other_app_rps']:.0f} "
              f"calls/s (idle {stall['other_app_idle_rps']:.0f}, {stall['other_app_errors']} "
              "errors)")
    print(f"load average at the end: {load_end:.2f}")
    if prof["calls"]:
        print_profile(prof)

    print("\ngoals:")
    cell = {(r["delay_ms"], r["concurrency"]): r for r in rows}

    def goal(text: str, met: bool) -> None:
        print(f"  [{'met' if met else 'NOT met'}] {text}")

    if (100, 64) in cell:
        r = cell[(100, 64)]
        goal(f"100 ms x 64: {r['proxied_rps'] / max(r['direct_rps'], 1e-9):.2f}x of direct "
             f"(>= 0.9), {r['errors']} errors, p50 +{r['p50_ms'] - r['direct_p50_ms']:.1f} ms "
             "(<= 10)", r["proxied_rps"] >= 0.9 * r["direct_rps"] and not r["errors"]
             and r["p50_ms"] - r["direct_p50_ms"] <= 10)
    if (100, 256) in cell:
        r = cell[(100, 256)]
        if cpu_per:
            goal(f"100 ms x 256: {r['errors']} errors, {r['proxied_rps']:.0f} calls/s = "
                 f"{r['proxied_rps'] / ceiling:.2f}x of the CPU ceiling (>= 0.8)",
                 not r["errors"] and r["proxied_rps"] >= 0.8 * ceiling)
        else:
            print("  [not measured] 100 ms x 256 against the CPU ceiling: no instant-upstream "
                  "cell with c >= 16")
    if (1000, 1000) in cell:
        r = cell[(1000, 1000)]
        goal(f"1 s x 1000: {r['errors']} errors, p99 {r['p99_ms']:.0f} ms (< 2000), RSS "
             f"{server.peak_rss:.0f} MB (< 1024), {server.peak_pg} PG connections (<= 40)",
             not r["errors"] and r["p99_ms"] < 2000 and server.peak_rss < 1024
             and server.peak_pg <= 40)
    if stall:
        hz_x = stall["healthz_p50_ms"] / max(stall["healthz_idle_p50_ms"], 1e-9)
        page_x = stall["page_p50_ms"] / max(stall["page_idle_p50_ms"], 1e-9)
        other_x = stall["other_app_rps"] / max(stall["other_app_idle_rps"], 1e-9)
        goal(f"stalled: /healthz {hz_x:.1f}x idle, page {page_x:.1f}x idle (< 3), other app "
             f"{other_x:.2f}x idle (>= 0.8)", hz_x < 3 and page_x < 3 and other_x >= 0.8)
    if (0, 1) in cell:
        r = cell[(0, 1)]
        goal(f"instant x 1: +{r['p50_ms'] - r['direct_p50_ms']:.2f} ms at p50 (<= 1.5)",
             r["p50_ms"] - r["direct_p50_ms"] <= 1.5)
    if (0, 16) in cell:
        r = cell[(0, 16)]
        goal(f"instant x 16: {r['proxied_rps']:.0f} calls/s (>= 800)", r["proxied_rps"] >= 800)
    if cpu_per:  # measured on the instant cells with c >= 16 only
        goal(f"server CPU per call {cpu_ms:.2f} ms (<= 2)", cpu_ms <= 2)
    else:
        print("  [not measured] server CPU per call: no instant-upstream cell with c >= 16")

    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
