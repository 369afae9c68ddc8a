from django.urls import path

from . import views as v

W = "workspaces/<str:workspace_id>/"
APP = W + "apps/<str:app_id>/"

v1 = [
    path(W + "secrets/", v.SecretListView.as_view(), name="api-secrets"),
    path(W + "secrets/<str:name>/", v.SecretDetailView.as_view(), name="api-secret"),
    path(APP + "secrets/", v.SecretListView.as_view(), name="api-app-secrets"),
    path(APP + "secrets/<str:name>/", v.SecretDetailView.as_view(), name="api-app-secret"),
    path(APP + "secret-access/", v.SecretAccessView.as_view(), name="api-app-secret-access"),
    path(W + "custom-apis/", v.CustomApiListView.as_view(), name="api-custom-apis"),
    path(W + "custom-apis/<str:custom_api_id>/", v.CustomApiDetailView.as_view(),
         name="api-custom-api"),
]

sdk = [
    path("apps/<str:app_id>/functions/env", v.FunctionsEnvView.as_view(),
         name="sdk-functions-env"),
]
