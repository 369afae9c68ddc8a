from django.urls import path

from . import views as v

W = "w/<str:workspace_id>/catalog/"
ITEM = W + "<str:integration_id>/"

urlpatterns = [
    path(W, v.catalog, name="catalog"),
    path(W + "mine/", v.my_integrations, name="catalog-mine"),
    path(W + "new/", v.integration_new, name="catalog-new"),
    path(ITEM, v.integration_detail, name="catalog-detail"),
    path(ITEM + "edit/", v.integration_edit, name="catalog-edit"),
    path(ITEM + "submit/", v.integration_submit, name="catalog-submit"),
    path(ITEM + "withdraw/", v.integration_withdraw, name="catalog-withdraw"),
    path(ITEM + "delete/", v.integration_delete, name="catalog-delete"),
    path(ITEM + "use/", v.integration_use, name="catalog-use"),
    path("w/<str:workspace_id>/apps/<str:app_id>/integrations/", v.app_integrations,
         name="app-catalog-integrations"),
    path("catalog/check/", v.check_prompt, name="catalog-check"),
    path("catalog/review/", v.review_queue, name="catalog-review-queue"),
    path("catalog/review/<int:revision_id>/", v.review, name="catalog-review"),
    path("notifications/", v.notifications, name="notifications"),
    path("notifications/<int:notification_id>/", v.notification_open, name="notification-open"),
]
