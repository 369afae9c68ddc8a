"""Collects every app's API routes: the admin API under /api/v1/, SDK routes under /api/."""

from django.urls import include, path

from catalog.api import urls as catalog_api
from connectors.api import sdk_urls as connectors_sdk
from connectors.api import urls as connectors_api
from integrations.api import sdk_urls as integrations_sdk
from integrations.api import urls as integrations_api
from secrets_vault.api import urls as secrets_vault_api
from workspaces.api import urls as workspaces_api

v1_patterns = [*workspaces_api.v1, *catalog_api.v1, *secrets_vault_api.v1,
               *integrations_api.v1, *connectors_api.v1]
sdk_patterns = [*workspaces_api.sdk, *catalog_api.sdk, *secrets_vault_api.sdk,
                *integrations_sdk.sdk, *connectors_sdk.sdk]

urlpatterns = [
    path("v1/", include(v1_patterns)),
    *sdk_patterns,
]
