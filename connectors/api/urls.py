"""Admin API routes of connectors, mounted under /api/v1/."""

from __future__ import annotations

from django.urls import path

from . import views as v

W = "workspaces/<str:workspace_id>/"
C = W + "connectors/<str:connector_id>/"

v1 = [
    path(W + "connectors/", v.ConnectorListView.as_view(), name="api-connectors"),
    path(C, v.ConnectorDetailView.as_view(), name="api-connector"),
    path(C + "rotate-secret/", v.RotateSecretView.as_view(), name="api-connector-rotate-secret"),
    path(W + "apps/<str:app_id>/connections/", v.AppConnectionListView.as_view(),
         name="api-app-connections"),
]
