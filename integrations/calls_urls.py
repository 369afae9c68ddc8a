"""The Calls page (not under integrations/, where the wizard's <integration_id> routes are)."""

from __future__ import annotations

from django.urls import path

from . import calls_views

urlpatterns = [
    path("w/<str:workspace_id>/calls/", calls_views.calls_page, name="calls"),
]
