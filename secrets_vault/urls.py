from django.urls import path

from . import views as v

W = "w/<str:workspace_id>/"
APP = W + "secrets/apps/<str:app_id>/"

urlpatterns = [
    path(W + "secrets/", v.secrets_page, name="secrets"),
    path(APP, v.secrets_page, name="app-secrets"),
    path(APP + "access/", v.app_secret_access, name="app-secret-access"),
    path(APP + "<str:name>/", v.secret_detail, name="app-secret-detail"),
    path(APP + "<str:name>/delete/", v.secret_delete, name="app-secret-delete"),
    path(W + "secrets/<str:name>/", v.secret_detail, name="secret-detail"),
    path(W + "secrets/<str:name>/delete/", v.secret_delete, name="secret-delete"),
    path(W + "custom-apis/", v.custom_apis, name="custom-apis"),
    path(W + "custom-apis/<str:custom_api_id>/", v.custom_api_edit, name="custom-api-edit"),
    path(W + "custom-apis/<str:custom_api_id>/delete/", v.custom_api_delete,
         name="custom-api-delete"),
]
