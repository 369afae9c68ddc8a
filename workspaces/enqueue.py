"""Queue a Celery task by its name, so that ``services`` never import ``tasks``.

The direction is one way: tasks call services; services queue tasks through
``transaction.on_commit`` and this lookup (``delay("workspaces.tasks.send_email", pk)``). Each
app's ``AppConfig.ready()`` imports its ``tasks`` module, so that its tasks are registered in
every process (the worker also finds them by autodiscovery). The task object is the
registered one: ``task_always_eager`` and a test's patch of ``tasks.X.delay`` apply, which
``send_task`` (always to the broker) would not honour.
"""

from __future__ import annotations

from typing import Any

from celery import current_app


def registered(task_name: str) -> Any:
    """The registered task ``task_name`` (KeyError when no such task is registered), for a
    caller that runs it otherwise than by ``delay`` (``.apply`` in a thread)."""
    return current_app.tasks[task_name]


def delay(task_name: str, *args: Any, **kwargs: Any) -> Any:
    """``task.delay(*args, **kwargs)`` for the registered task ``task_name`` (KeyError when no
    such task is registered)."""
    return registered(task_name).delay(*args, **kwargs)
