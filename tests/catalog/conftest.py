"""Catalog fixtures: reviewers (staff, outside every workspace) and integration builders."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from catalog import services
from catalog.models import CatalogIntegration
from catalog.starter import OPENAI_EXAMPLE
from tests.factories import UserFactory
from workspaces.models import User, Workspace


def content(**overrides: Any) -> dict[str, Any]:
    data = copy.deepcopy(OPENAI_EXAMPLE)
    data.update(overrides)
    return data


def make_integration(workspace: Workspace, user: User, *, visibility: str = "public",
                     **overrides: Any) -> CatalogIntegration:
    return services.create_integration(workspace, actor=user,
                                       data={**content(**overrides), "visibility": visibility})


@pytest.fixture
def reviewer(db) -> User:  # type: ignore[no-untyped-def]
    return UserFactory(email="reviewer@example.com", is_staff=True)


@pytest.fixture
def reviewer2(db) -> User:  # type: ignore[no-untyped-def]
    return UserFactory(email="reviewer2@example.com", is_staff=True)


@pytest.fixture
def integration(personas) -> CatalogIntegration:  # type: ignore[no-untyped-def]
    """A public integration of the shared workspace, created by the member, still a draft."""
    return make_integration(personas.workspace, personas.member)


@pytest.fixture
def submitted(integration, personas, reviewer):  # type: ignore[no-untyped-def]
    return services.submit_for_review(integration, actor=personas.member)


@pytest.fixture
def approved(submitted, reviewer):  # type: ignore[no-untyped-def]
    services.approve_submission(submitted, actor=reviewer, comment="Looks good")
    submitted.integration.refresh_from_db()
    return submitted.integration
