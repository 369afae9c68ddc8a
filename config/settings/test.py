"""Test settings: fast hashing, in-memory email; DATABASE_URL / CELERY_BROKER_URL from the env."""

import tempfile

from .base import *  # noqa: F403
from .base import env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Tests decide per test whether tasks run eagerly or on a real worker (see tests/conftest.py).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# A portal a test serves under gunicorn (tests/sdk_e2e.py) gets the production shape: the
# shared Redis cache, and with it the SDK lookup caches published through the shared epoch.
if env("TEST_SERVER_REDIS_URL", default=""):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                          "LOCATION": env("TEST_SERVER_REDIS_URL"),
                          "KEY_PREFIX": env("TEST_SERVER_CACHE_PREFIX", default="test-server")}}
# As in base.py, from the cache actually used: per-process caches only with an explicit value.
SDK_LOOKUP_CACHE_SECONDS = env.float(
    "SDK_LOOKUP_CACHE_SECONDS",
    default=60.0 if CACHES["default"]["BACKEND"].endswith("RedisCache") else 0.0)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Spec uploads of this test process (a real worker started by a test gets the same folder).
MEDIA_ROOT = env("MEDIA_ROOT", default="") or tempfile.mkdtemp(prefix="switchboard-media-")
