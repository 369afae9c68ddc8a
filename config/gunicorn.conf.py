"""gunicorn for production: ``gunicorn -c config/gunicorn.conf.py config.wsgi:application``.

gevent workers: each request is a greenlet, so a proxied call waiting on a slow upstream
costs a socket and a few tens of KB, not a thread; a thousand such calls fit in a handful of
processes while dashboard pages and ``/healthz`` keep being served between them. The worker
monkey-patches the standard library before Django is imported, so psycopg 3 (it detects
gevent's patching and waits cooperatively), redis-py, urllib3 (the egress client: resolve,
check, pin and connect to the checked address, all unchanged) and ``threading.local`` (one
Django DB connection per greenlet) all cooperate.

Database connections are bounded by the pool (``DB_POOL_MAX_SIZE`` per process, default 8
here; see config/settings/base.py): PostgreSQL sees at most ``workers x DB_POOL_MAX_SIZE``.

Every value can be overridden on the command line or through the environment below.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", str(min(4, multiprocessing.cpu_count() * 2))))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
# greenlets (concurrent requests) per worker; the bulkheads (PROXY_MAX_IN_FLIGHT_*) cap how
# many of them one app or one integration can hold
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
backlog = int(os.environ.get("GUNICORN_BACKLOG", "2048"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "30"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))

# The bounded PostgreSQL pool is on by default under this config (read by the settings when
# each worker loads Django). Keep DB_POOL_MAX_SIZE x workers (x hosts) under PostgreSQL's
# max_connections (100 by default), or put PgBouncer in between (README).
os.environ.setdefault("DB_POOL_MAX_SIZE", "8")
# Call-log rows of the calls finishing within 50 ms share one INSERT (integrations/calllog.py).
os.environ.setdefault("PROXY_LOG_FLUSH_SECONDS", "0.05")
# Kept-alive upstream connections per upstream address, per process.
os.environ.setdefault("EGRESS_POOL_MAXSIZE", "100")
