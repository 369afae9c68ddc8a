"""The one place that states what each plan allows and which role each action needs.

Later apps ask `allows(workspace, feature)` / `require(workspace, feature)` and
`ROLE_FOR[action]`; nobody else compares plan names.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Plan, Role, Workspace


@dataclass(frozen=True)
class PlanLimits:
    monthly_credits: int
    max_apps: int
    workspace_integrations: bool
    max_operations_per_integration: int


PLANS: dict[str, PlanLimits] = {
    Plan.FREE: PlanLimits(monthly_credits=100, max_apps=3, workspace_integrations=False,
                          max_operations_per_integration=30),
    Plan.BUILDER: PlanLimits(monthly_credits=2_000, max_apps=20, workspace_integrations=True,
                             max_operations_per_integration=30),
    Plan.PRO: PlanLimits(monthly_credits=10_000, max_apps=100, workspace_integrations=True,
                         max_operations_per_integration=30),
}

# Feature -> (needs a shared workspace, plan flag)
FEATURES = {
    "workspace_integrations": (True, "workspace_integrations"),
}

# Action -> the least role that may do it.
ROLE_FOR: dict[str, str] = {
    "view": Role.MEMBER,
    "create_app": Role.MEMBER,
    "manage_app": Role.ADMIN,
    # Anyone on the internet could call the workspace's integrations through the app.
    "allow_anonymous_calls": Role.ADMIN,
    # Caps are money, and sandbox mode changes what every caller of the app gets back.
    "set_app_credit_cap": Role.ADMIN,
    "set_sandbox_mode": Role.ADMIN,
    "manage_members": Role.ADMIN,
    "manage_workspace": Role.ADMIN,
    "view_audit": Role.ADMIN,  # the audit trail: who changed what (page, CSV, admin API)
    "change_plan": Role.OWNER,
    "delete_workspace": Role.OWNER,
    "manage_integrations": Role.ADMIN,
    "manage_secrets": Role.ADMIN,
    "manage_custom_apis": Role.ADMIN,
    "manage_connectors": Role.ADMIN,
}


class PlanRequired(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def limits(workspace: Workspace) -> PlanLimits:
    return PLANS[workspace.plan]


def allows(workspace: Workspace, feature: str) -> bool:
    needs_shared, flag = FEATURES[feature]
    if needs_shared and not workspace.is_shared:
        return False
    return bool(getattr(limits(workspace), flag))


def require(workspace: Workspace, feature: str) -> None:
    if allows(workspace, feature):
        return
    needs_shared, _ = FEATURES[feature]
    label = feature.replace("_", " ").capitalize()
    if needs_shared and not workspace.is_shared:
        raise PlanRequired(f"{label} are available in shared workspaces only.")
    raise PlanRequired(f"{label} need the Builder plan or higher.")
