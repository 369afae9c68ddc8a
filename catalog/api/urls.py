from django.urls import path

from . import views as v

WS = "workspaces/<str:workspace_id>/"
ITEM = WS + "catalog/integrations/<str:integration_id>/"

v1 = [
    path(WS + "catalog/integrations/", v.CatalogIntegrationListView.as_view(),
         name="api-catalog-integrations"),
    path(ITEM, v.CatalogIntegrationDetailView.as_view(), name="api-catalog-integration"),
    path(ITEM + "submit/", v.CatalogSubmitView.as_view(), name="api-catalog-submit"),
    path(ITEM + "withdraw/", v.CatalogWithdrawView.as_view(), name="api-catalog-withdraw"),
    path(WS + "apps/<str:app_id>/catalog-installations/", v.InstallationListView.as_view(),
         name="api-catalog-installations"),
    path(WS + "apps/<str:app_id>/catalog-installations/<str:installation_id>/",
         v.InstallationDetailView.as_view(), name="api-catalog-installation"),
    path("catalog/integrations/", v.PublicCatalogListView.as_view(), name="api-public-catalog"),
    path("catalog/integrations/<str:integration_id>/", v.PublicCatalogDetailView.as_view(),
         name="api-public-catalog-integration"),
    path("catalog/checks/", v.PromptCheckView.as_view(), name="api-catalog-checks"),
    path("catalog/reviews/", v.ReviewQueueView.as_view(), name="api-catalog-reviews"),
    path("catalog/reviews/<int:revision_id>/decision/", v.ReviewDecisionView.as_view(),
         name="api-catalog-decision"),
    path("notifications/", v.NotificationListView.as_view(), name="api-notifications"),
    path("notifications/read/", v.NotificationReadView.as_view(), name="api-notifications-read"),
]

sdk = [
    path("apps/<str:app_id>/catalog-integrations", v.AppCatalogIntegrationsView.as_view(),
         name="sdk-catalog-integrations"),
]
