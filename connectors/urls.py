from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("connectors/oauth/callback/", views.oauth_callback, name="connectors-oauth-callback"),
    path("connectors/oauth/start/<str:launch_token>/", views.oauth_launch,
         name="connectors-oauth-launch"),
    path("w/<str:workspace_id>/connectors/", views.workspace_connectors, name="connectors"),
    path("w/<str:workspace_id>/connectors/<str:connector_id>/", views.connector_detail,
         name="connector-detail"),
    path("w/<str:workspace_id>/apps/<str:app_id>/connectors/", views.app_connectors,
         name="app-connectors"),
]
