"""Fixtures for the vault tests: canary strings, Fernet keys, a workspace full of secrets."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import pytest
from cryptography.fernet import Fernet

from secrets_vault import services as vault
from secrets_vault.models import CustomApi, Secret


def new_canary() -> str:
    return f"CANARY-{uuid.uuid4().hex}"


@pytest.fixture
def fernet_key():  # type: ignore[no-untyped-def]
    """fernet_key() -> a fresh Fernet key (str)."""
    return lambda: Fernet.generate_key().decode()


@dataclass
class VaultData:
    canaries: dict[str, str] = field(default_factory=dict)  # label -> canary
    secrets: dict[str, Secret] = field(default_factory=dict)
    apis: dict[str, CustomApi] = field(default_factory=dict)

    @property
    def all(self) -> list[str]:
        return list(self.canaries.values())


@pytest.fixture
def vault_data(personas) -> VaultData:  # type: ignore[no-untyped-def]
    """Workspace secrets, app secrets (one overriding), a system secret, Custom APIs of every
    auth type and both scopes, and a secret in the outsider's workspace; each value a canary."""
    p, d = personas, VaultData()

    def secret(label: str, name: str, app=None, workspace=None, kind="user") -> None:  # type: ignore[no-untyped-def]
        d.canaries[label] = new_canary()
        d.secrets[label] = vault.set_secret(workspace or p.workspace, name, d.canaries[label],
                                            app=app, actor=p.owner, kind=kind,
                                            description=f"{label} description")

    secret("ws", "STRIPE_API_KEY")
    secret("ws_shared", "SHARED_NAME")
    secret("app", "APP_ONLY_KEY", app=p.app)
    secret("app_shared", "SHARED_NAME", app=p.app)
    secret("system", "__integration_header_1", kind="system")
    secret("outsider", "OUTSIDER_KEY", workspace=p.outsider_workspace)
    for label, auth_type, app in (("api_key", "api_key", None), ("bearer", "bearer", p.app)):
        d.canaries[label] = new_canary()
        d.apis[label] = vault.create_custom_api(
            p.workspace, actor=p.owner, name=f"{label} service", auth_type=auth_type,
            credential=d.canaries[label], domain="api.example.com",
            docs_url="https://docs.example.com/", app=app)
    d.canaries["basic_user"], d.canaries["basic_pass"] = new_canary(), new_canary()
    d.apis["basic"] = vault.create_custom_api(
        p.workspace, actor=p.admin, name="Basic Billing", auth_type="basic",
        username=d.canaries["basic_user"], credential=d.canaries["basic_pass"])
    return d
