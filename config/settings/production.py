"""Production: refuses to start without real secrets; HTTPS everywhere."""

from django.core.exceptions import ImproperlyConfigured

from config.client_ip import client_ip_settings

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = env("SECRET_KEY", default="")
FIELD_ENCRYPTION_KEY = env.list("FIELD_ENCRYPTION_KEY", default=[])
if not SECRET_KEY or not FIELD_ENCRYPTION_KEY:
    raise ImproperlyConfigured(
        "Production needs SECRET_KEY and FIELD_ENCRYPTION_KEY in the environment.")
if not env("DATABASE_URL", default=""):
    raise ImproperlyConfigured("Production needs DATABASE_URL (PostgreSQL).")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Behind the README's reverse proxy (one, by default): the sign-in lockout keys on the client
# address it appends to X-Forwarded-For, not on the proxy's (see config/client_ip.py).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
vars().update(client_ip_settings(TRUSTED_PROXY_COUNT))
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
