"""Local development: `make run`. SQLite and eager Celery unless the environment says otherwise."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
EGRESS_ALLOW_CIDRS = env.list("EGRESS_ALLOW_CIDRS", default=[])
