"""Waiting for call log rows written by a live server.

The portal writes a call's ``CallLog`` row after the response (``integrations.calllog``): a
test that reads the log right after getting the answers from a real server process waits a
moment for the rows instead of racing the writer."""

from __future__ import annotations

import time
from typing import Any


def wait_for_rows(queryset: Any, count: int, timeout: float = 10.0) -> Any:
    """``queryset`` once it holds ``count`` rows (or as it is after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while queryset.count() < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return queryset
