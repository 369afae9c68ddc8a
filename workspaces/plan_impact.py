"""What a plan change stops: the Settings page asks for confirmation of a downgrade and lists
it. The ground floor knows the plans' limits; apps above it know what they hold (integrations,
the apps that call them) and register a describer in their ``AppConfig.ready()``::

    from workspaces import plan_impact
    plan_impact.register("integrations", describe_fn)

``describe_fn(workspace, new_limits) -> list[str]``: plain sentences, empty when nothing of
theirs is affected. Registering a name again replaces it."""

from __future__ import annotations

from collections.abc import Callable

from .models import Workspace
from .plans import PLANS, PlanLimits

Describer = Callable[[Workspace, PlanLimits], list[str]]
_describers: dict[str, Describer] = {}


def register(name: str, fn: Describer) -> None:
    _describers[name] = fn


def is_downgrade(workspace: Workspace, plan: str) -> bool:
    old, new = PLANS[workspace.plan], PLANS[plan]
    return (new.monthly_credits, new.max_apps, new.workspace_integrations) < (
        old.monthly_credits, old.max_apps, old.workspace_integrations) or (
        old.workspace_integrations and not new.workspace_integrations)


def describe(workspace: Workspace, plan: str) -> list[str]:
    """Everything that stops or shrinks if ``workspace`` moves to ``plan`` (empty: nothing)."""
    old, new = PLANS[workspace.plan], PLANS[plan]
    lines: list[str] = []
    for name in sorted(_describers):
        lines += _describers[name](workspace, new)
    apps = workspace.apps.count()
    if apps > new.max_apps:
        lines.append(f"{apps} apps, {new.max_apps} allowed: the existing apps stay, but no app "
                     "can be added until there are fewer.")
    if old.workspace_integrations and not new.workspace_integrations:
        lines.append("Catalog integrations can no longer be created, submitted or installed.")
    if new.monthly_credits < old.monthly_credits:
        lines.append(f"From next month the grant is {new.monthly_credits:,} credits instead of "
                     f"{old.monthly_credits:,}; the credits you have now are kept.")
    return lines
