"""Settings shared by every environment. Configuration comes only from the environment."""

from __future__ import annotations

import secrets
from pathlib import Path

import environ
from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()


def _generated(name: str, make) -> str:  # type: ignore[no-untyped-def]
    """A local-only value generated once into var/ and reused across runs."""
    VAR_DIR.mkdir(exist_ok=True)
    path = VAR_DIR / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default=None) or _generated(
    "secret_key", lambda: secrets.token_urlsafe(50)
)
# django-encrypted-model-fields: a comma-separated list, newest key first.
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[]) or [
    _generated("field_encryption_key", lambda: Fernet.generate_key().decode())
]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Public address of the portal, for absolute links in e-mails sent by workers (no request there).
SITE_URL = env("SITE_URL", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "corsheaders",
    "csp",
    "encrypted_model_fields",
    "workspaces",
    "secrets_vault",
    "integrations",
    "catalog",
    "connectors",
]

MIDDLEWARE = [
    "workspaces.middleware.CollapseApiSlashesMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # config.middleware: django-csp's, sessions, CSRF, auth and messages made route-aware: on
    # the SDK routes (/api/apps/..., bearer tokens, never cookies) they do nothing (the CSP
    # header is built once); everywhere else they are Django's own (subclasses).
    "config.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.middleware.SessionMiddleware",
    # NUL and other control characters in a path or query value: 404 / 400, before any view,
    # redirect (CommonMiddleware's APPEND_SLASH) or database query sees them.
    "config.middleware.RefuseControlCharactersMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Django's own (not skipped on SDK routes): `check --deploy` looks for it by name, and DRF
    # views are csrf_exempt anyway, so it costs the SDK routes next to nothing.
    "django.middleware.csrf.CsrfViewMiddleware",
    "config.middleware.AuthenticationMiddleware",
    "config.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
# Error reports hide credentials in settings and request headers (see config/debug.py).
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.debug.ReporterFilter"

# CORS, for browser apps that use @base44/sdk from their own origin: only the SDK routes
# (/api/apps/...), which authenticate with bearer tokens, never cookies, so no credentials are
# allowed and any origin may call by default. SDK_CORS_ALLOWED_ORIGINS narrows it to a list.
# The headers are what the SDK sends and reads (sdk-protocol.md §2.1).
from corsheaders.defaults import default_headers as _cors_default_headers  # noqa: E402

CORS_URLS_REGEX = r"^/api/apps/"
CORS_ALLOWED_ORIGINS = env.list("SDK_CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_ALL_ORIGINS = not CORS_ALLOWED_ORIGINS
CORS_ALLOW_CREDENTIALS = False
CORS_ALLOW_HEADERS = (*_cors_default_headers, "x-app-id", "x-origin-url",
                      "x-base44-anonymous-id", "on-behalf-of")
CORS_EXPOSE_HEADERS = ["x-base44-connector-error", "x-request-id", "retry-after"]
WSGI_APPLICATION = "config.wsgi.application"

# Content-Security-Policy (django-csp) on every response: scripts, styles, fonts and fetches only
# from this origin, never inline (templates load static/js/*.js; no on* attributes, no style
# attributes), images also as data: URIs (Swagger UI's icons, the favicon); no plugins, no
# <base> tag, never framed. The dashboard, the Django admin and the Swagger UI at /api/docs/
# (drf-spectacular's split view: its setup script is a file too) run under it.
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    },
}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "workspaces.context_processors.workspace_nav",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'switchboard.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "workspaces.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
PASSWORD_RESET_TIMEOUT = 60 * 60 * 3

# Brute-force lockout (django-axes): 5 failures for one account from one address lock that
# account for that address for 15 min; the same account from another address is not locked.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
# The client's address behind the reverse proxies (config/client_ip.py): TRUSTED_PROXY_COUNT
# proxies append to X-Forwarded-For (0 here: `make run` has none; production defaults to 1).
from config.client_ip import client_ip_settings  # noqa: E402

TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
vars().update(client_ip_settings(TRUSTED_PROXY_COUNT))

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# The default storage holds uploaded spec bodies between the web process (which only streams
# them there) and the import worker (which parses them): a folder every web and worker process
# mounts (see README, Deploy). Uploads are streamed to a temporary file from the first byte
# (FILE_UPLOAD_MAX_MEMORY_SIZE 0 for the spec upload handler), never held in memory.
MEDIA_ROOT = env("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "/media/"  # never served: spec uploads are not public

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
if EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend":  # noqa: F821 (from EMAIL_CONFIG)
    EMAIL_BACKEND = "workspaces.mail.ConsoleBackend"  # prints mail to logs with links hidden
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Switchboard <noreply@switchboard.local>")

# Celery: without a broker, tasks run eagerly in-process (the embedded default for `make run`).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or None)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 90
# Spec imports (fetch, parse, validate, compare) run on their own queue, `imports`, consumed
# by a worker whose pool child exits after each task (README, Deploy): a big spec's memory
# goes back to the system with the child. Every other task stays on the default queue.
from kombu import Queue  # noqa: E402

CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = (Queue("celery"), Queue("imports"))
CELERY_TASK_ROUTES = {
    "integrations.tasks.run_spec_import": {"queue": "imports"},
    "integrations.tasks.check_integration_spec": {"queue": "imports"},
}
CELERY_BEAT_SCHEDULE = {
    "monthly-credit-grants": {
        "task": "workspaces.tasks.grant_monthly_credits",
        "schedule": 60 * 60 * 6,
    },
    "integration-spec-checks": {
        "task": "integrations.tasks.check_integration_specs",
        "schedule": 60 * 60 * 24,
    },
    "audit-retention": {
        "task": "workspaces.tasks.prune_audit_entries",
        "schedule": 60 * 60 * 24,
    },
}
# Audit trail (workspaces.audit): entries older than this many days are pruned daily, in
# batches (0 keeps everything). Target links are resolved by config (it knows every app).
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=365)
AUDIT_PRUNE_BATCH_SIZE = 1000
AUDIT_TARGET_LINKS = "config.audit_links.target_links"

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("REDIS_URL")}
        if env("REDIS_URL", default="")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Outbound HTTP (SSRF guard): CIDRs opened for development/tests; nothing is open by default.
EGRESS_ALLOW_CIDRS = env.list("EGRESS_ALLOW_CIDRS", default=[])
EGRESS_ALLOWED_PORTS = env.list("EGRESS_ALLOWED_PORTS", cast=int,
                                default=[80, 443, 8000, 8080, 8443])

# Tokens
APP_USER_TOKEN_TTL_SECONDS = env.int("APP_USER_TOKEN_TTL_SECONDS", default=60 * 60 * 24 * 7)
INVITATION_MAX_AGE_SECONDS = env.int("INVITATION_MAX_AGE_SECONDS", default=60 * 60 * 24 * 7)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "workspaces.api.authentication.PersonalAccessTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "config.schema.AutoSchema",  # + the standard error responses
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "workspaces.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Switchboard API",
    "DESCRIPTION": "Admin API (/api/v1/, personal access tokens) and the SDK API (/api/apps/...).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Request bodies are documented as JSON (what clients send; forms are a convenience of the
    # browsable API and the tests). Views that declare their own media types keep them.
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

CREDITS_PER_PROXIED_CALL = 1

# Credits added to a workspace the first time one of its integrations is approved for the
# public catalog (once per integration).
CATALOG_FIRST_APPROVAL_CREDITS = env.int("CATALOG_FIRST_APPROVAL_CREDITS", default=250)
CELERY_BEAT_SCHEDULE["catalog-unsent-notifications"] = {
    "task": "catalog.tasks.resend_unsent_notifications",
    "schedule": 60 * 10,
}

# Integration proxy (integrations.custom.call): per-app calls per minute (0 = no limit; shared
# across processes when REDIS_URL is set), the upstream deadline, and the response size cap.
PROXY_RATE_LIMIT_PER_MINUTE = env.int("PROXY_RATE_LIMIT_PER_MINUTE", default=600)
PROXY_TIMEOUT_SECONDS = env.float("PROXY_TIMEOUT_SECONDS", default=30.0)
PROXY_CONNECT_TIMEOUT_SECONDS = env.float("PROXY_CONNECT_TIMEOUT_SECONDS", default=5.0)
PROXY_MAX_RESPONSE_BYTES = env.int("PROXY_MAX_RESPONSE_BYTES", default=10 * 1024 * 1024)
PROXY_CONFIG_CACHE_SECONDS = env.int("PROXY_CONFIG_CACHE_SECONDS", default=60)
# Each process keeps a service token's row (token -> app -> workspace), an app-user token's
# lookups and an integration's lookup (slug -> id, version) at most this long. With Redis every
# change is published (workspaces.sdk_cache: a shared epoch read once per SDK request), so every
# process sees a revocation or an edit on its next call; without Redis each process trusts its
# own cache (exact for one process), so the default is 0 (off) then. 0 = a query on every call.
SDK_LOOKUP_CACHE_SECONDS = env.float(
    "SDK_LOOKUP_CACHE_SECONDS",
    default=60.0 if CACHES["default"]["BACKEND"].endswith("RedisCache") else 0.0)

# ---- Proxy at real traffic shapes (issue 11; see config/gunicorn.conf.py) ----------------
# Bounded PostgreSQL pool (Django 5.2 + psycopg_pool), per web process: DB_POOL_MAX_SIZE > 0
# turns it on (config/gunicorn.conf.py defaults it to 8; CONN_MAX_AGE must then be 0). The
# proxy hands its connection back to the pool while it waits for the upstream, so PostgreSQL
# sees at most workers x DB_POOL_MAX_SIZE connections whatever the number of calls in flight.
DB_POOL_MAX_SIZE = env.int("DB_POOL_MAX_SIZE", default=0)
if DB_POOL_MAX_SIZE > 0 and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(env.int("DB_POOL_MIN_SIZE", default=2), DB_POOL_MAX_SIZE),
        "max_size": DB_POOL_MAX_SIZE,
        "timeout": env.float("DB_POOL_TIMEOUT_SECONDS", default=10.0),
    }
# Behind PgBouncer in transaction mode: DB_DISABLE_SERVER_SIDE_CURSORS=True (and usually
# DB_POOL_MAX_SIZE=0 or small: PgBouncer does the pooling).
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
    "DB_DISABLE_SERVER_SIDE_CURSORS", default=False)
# Bulkheads: calls in flight (sent, not yet answered) per app and per integration (custom
# integration, or one connector type in one workspace); 0 = no cap. Shared by every process
# through Redis (REDIS_URL); without Redis each process enforces them on its own. Over a cap
# the call is answered at once: 429 + Retry-After, nothing charged, nothing sent.
PROXY_MAX_IN_FLIGHT_PER_APP = env.int("PROXY_MAX_IN_FLIGHT_PER_APP", default=200)
# Call-log rows wait this long after a call for the rows of the next ones (one INSERT for
# all); 0 = written at the end of each request (integrations/calllog.py)
PROXY_LOG_FLUSH_SECONDS = env.float("PROXY_LOG_FLUSH_SECONDS", default=0.0)
PROXY_MAX_IN_FLIGHT_PER_INTEGRATION = env.int("PROXY_MAX_IN_FLIGHT_PER_INTEGRATION",
                                              default=400)
PROXY_BULKHEAD_RETRY_AFTER_SECONDS = env.int("PROXY_BULKHEAD_RETRY_AFTER_SECONDS", default=1)
# Kept-alive upstream connections per (checked address, host) in each process.
EGRESS_POOL_MAXSIZE = env.int("EGRESS_POOL_MAXSIZE", default=10)
# Redis connections per process: a blocking pool (a greenlet waits for a free connection)
# instead of redis-py's default, which raises "Too many connections" past 100 at once.
if CACHES["default"]["BACKEND"].endswith("RedisCache"):
    CACHES["default"].setdefault("OPTIONS", {}).update({
        "pool_class": "redis.BlockingConnectionPool",
        "max_connections": env.int("REDIS_MAX_CONNECTIONS", default=50),
        "timeout": 5,
    })
# ---- end of the issue 11 block -----------------------------------------------------------

# Connectors (OAuth). The platform's own OAuth client per provider type comes from the
# environment: CONNECTOR_<TYPE>_CLIENT_ID / CONNECTOR_<TYPE>_CLIENT_SECRET.
CONNECTOR_CLIENTS = {
    _key[len("CONNECTOR_"):-len("_CLIENT_ID")].lower(): {
        "client_id": _value,
        "client_secret": env(_key[: -len("_ID")] + "_SECRET", default=""),
    }
    for _key, _value in env.ENVIRON.items()
    if _key.startswith("CONNECTOR_") and _key.endswith("_CLIENT_ID") and _value
}
# {type: {key: value}} merged over connectors/providers.yaml (JSON in the environment).
CONNECTOR_PROVIDER_OVERRIDES = env.json("CONNECTOR_PROVIDER_OVERRIDES", default={})
# The redirect URI registered with providers; default: this server's /connectors/oauth/callback/.
CONNECTOR_CALLBACK_URL = env("CONNECTOR_CALLBACK_URL", default="")
CONNECTOR_REFRESH_MARGIN_SECONDS = env.int("CONNECTOR_REFRESH_MARGIN_SECONDS", default=300)
CONNECTOR_REFRESH_AHEAD_SECONDS = env.int("CONNECTOR_REFRESH_AHEAD_SECONDS", default=900)
CONNECTOR_MAX_REFRESH_FAILURES = env.int("CONNECTOR_MAX_REFRESH_FAILURES", default=3)
CONNECTOR_STATE_TTL_SECONDS = env.int("CONNECTOR_STATE_TTL_SECONDS", default=600)
CONNECTOR_LAUNCH_TTL_SECONDS = env.int("CONNECTOR_LAUNCH_TTL_SECONDS", default=300)
CONNECTOR_TOKEN_TIMEOUT_SECONDS = env.float("CONNECTOR_TOKEN_TIMEOUT_SECONDS", default=15.0)
CONNECTOR_CALL_TIMEOUT_SECONDS = env.float("CONNECTOR_CALL_TIMEOUT_SECONDS", default=30.0)
CELERY_BEAT_SCHEDULE["connector-token-refresh"] = {
    "task": "connectors.tasks.refresh_expiring_connections",
    "schedule": 60 * 5,
}
CELERY_BEAT_SCHEDULE["connector-state-purge"] = {
    "task": "connectors.tasks.purge_expired_oauth_states",
    "schedule": 60 * 60 * 6,
}
