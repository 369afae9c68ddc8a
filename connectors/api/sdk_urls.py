"""SDK routes of connectors, mounted under /api/ (exact sdk-protocol §1 paths, no slash)."""

from __future__ import annotations

from django.urls import path

from . import sdk_views as v

A = "apps/<str:app_id>/"

sdk = [
    path(A + "external-auth/tokens/connectors/<str:connector_id>", v.WorkspaceTokenView.as_view(),
         name="sdk-connectors-workspace-token"),
    path(A + "external-auth/tokens/<str:integration_type>", v.PlatformTokenView.as_view(),
         name="sdk-connectors-platform-token"),
    path(A + "app-user-auth/connectors/<str:connector_id>/token", v.AppUserTokenView.as_view(),
         name="sdk-connectors-app-user-token"),
    path(A + "app-user-auth/connectors/<str:connector_id>/initiate",
         v.AppUserInitiateView.as_view(), name="sdk-connectors-app-user-initiate"),
    path(A + "app-user-auth/connectors/<str:connector_id>", v.AppUserDisconnectView.as_view(),
         name="sdk-connectors-app-user-disconnect"),
    path(A + "connectors/<str:integration_type>/call", v.CallApiView.as_view(),
         name="sdk-connectors-call"),
]
