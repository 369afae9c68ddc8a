"""SDK routes of integrations, mounted under /api/ (no trailing slashes: the SDK never adds
one, and a redirect would turn its POST into a body-less GET)."""

from __future__ import annotations

from django.urls import path

from . import sdk_views as v

sdk = [
    path("apps/<str:app_id>/integrations/custom/<str:slug>/<path:operation>",
         v.CustomIntegrationCallView.as_view(), name="sdk-integrations-custom-call"),
]
