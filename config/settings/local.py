"""Local development: `make run`. SQLite and eager Celery unless the environment says otherwise."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
EGRESS_ALLOW_CIDRS = env.list("EGRESS_ALLOW_CIDRS", default=[])
# `make run` has no worker: eager import tasks run in a thread after the response, so the
# page shows their progress (operation list first, then validation) instead of freezing.
INTEGRATIONS_EAGER_IMPORTS_IN_THREAD = True
