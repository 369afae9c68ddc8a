"""The Calls and Credits pages (not under integrations/, where the wizard's <integration_id>
routes are)."""

from __future__ import annotations

from django.urls import path

from . import calls_views, credits_views

urlpatterns = [
    path("w/<str:workspace_id>/calls/", calls_views.calls_page, name="calls"),
    path("w/<str:workspace_id>/credits/", credits_views.credits_page,
         name="workspace-credits"),
    path("w/<str:workspace_id>/credits/chart.svg", credits_views.credits_chart,
         name="credits-chart"),
]
