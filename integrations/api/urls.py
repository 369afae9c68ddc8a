"""Admin API routes of workspace integrations, mounted under /api/v1/."""

from __future__ import annotations

from django.urls import path

from . import views as v

W = "workspaces/<str:workspace_id>/integrations/"
I = W + "<str:integration_id>/"  # noqa: E741

v1 = [
    path(W, v.IntegrationListView.as_view(), name="api-integrations"),
    path(W + "imports/", v.IntegrationImportCreateView.as_view(), name="api-integration-imports"),
    path(W + "imports/<str:import_id>/", v.IntegrationImportDetailView.as_view(),
         name="api-integration-import"),
    path(W + "imports/<str:import_id>/operations/", v.IntegrationImportOperationsView.as_view(),
         name="api-integration-import-operations"),
    path(I, v.IntegrationDetailView.as_view(), name="api-integration"),
    path(I + "headers/", v.IntegrationHeadersView.as_view(), name="api-integration-headers"),
    path(I + "operations/", v.IntegrationOperationsView.as_view(),
         name="api-integration-operations"),
    path(I + "refresh/", v.IntegrationRefreshView.as_view(), name="api-integration-refresh"),
    path(I + "refresh/apply/", v.IntegrationApplyRefreshView.as_view(),
         name="api-integration-refresh-apply"),
]
