from __future__ import annotations

from django.urls import include, path

from . import views

urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("login/", views.auto_login),
    path("api/me", views.me),
    path("test/stats", views.stats),
    path("test/config", views.config),
]
