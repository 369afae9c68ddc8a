"""Collects every app's API routes: the admin API under /api/v1/, SDK routes under /api/."""

from django.urls import include, path

from workspaces.api import urls as workspaces_api

v1_patterns = [*workspaces_api.v1]
sdk_patterns = [*workspaces_api.sdk]

urlpatterns = [
    path("v1/", include(v1_patterns)),
    *sdk_patterns,
]
