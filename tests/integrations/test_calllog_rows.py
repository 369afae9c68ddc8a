"""The call log's references are kept by Django, not by database foreign keys (one row is
written per proxied call; integrations.models.CallLog): what the keys guaranteed still holds."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from integrations import services
from integrations.models import CallLog
from tests.integrations.wizard_support import make_integration
from workspaces import services as workspace_services
from workspaces.models import CreditEntry

pytestmark = pytest.mark.django_db


def _row(personas, integration, request_id: str) -> CallLog:
    return CallLog.objects.create(
        request_id=request_id, workspace=personas.workspace, app=personas.app,
        integration=integration, integration_slug=integration.slug, operation="get:/contacts",
        caller_kind="service", phase="responded", response_status=200)


def test_rows_outlive_their_app_and_integration_and_go_with_the_workspace(personas):
    integration = make_integration(personas.workspace, personas.admin)
    row = _row(personas, integration, "r-app")
    workspace_services.delete_app(personas.app, actor=personas.owner)
    row.refresh_from_db()
    assert row.app_id is None and row.integration_id == integration.pk
    services.delete_integration(integration, actor=personas.admin)
    row.refresh_from_db()
    assert row.integration_id is None and row.integration_slug == integration.slug
    personas.workspace.delete()
    assert not CallLog.objects.filter(pk=row.pk).exists()


def test_a_request_id_and_an_idempotency_key_are_still_unique(personas):
    integration = make_integration(personas.workspace, personas.admin)
    _row(personas, integration, "r-twice")
    with pytest.raises(IntegrityError), transaction.atomic():
        _row(personas, integration, "r-twice")
    entry = CreditEntry.objects.filter(workspace=personas.workspace).first()
    assert entry is not None  # the workspace's opening grant
    with pytest.raises(IntegrityError), transaction.atomic():
        CreditEntry.objects.create(workspace=personas.workspace, kind="adjustment", amount=1,
                                   balance_after=0, reason="again",
                                   idempotency_key=entry.idempotency_key)
