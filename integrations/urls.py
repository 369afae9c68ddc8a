from django.urls import path

from . import try_it_views
from . import views as v

W = "w/<str:workspace_id>/integrations/"
I = W + "<str:integration_id>/"  # noqa: E741
IMP = W + "imports/<str:import_id>/"

urlpatterns = [
    path(W, v.integration_list, name="integrations"),
    path(W + "new/", v.integration_new, name="integration-new"),
    path(IMP, v.import_detail, name="integration-import"),
    path(IMP + "status/", v.import_status, name="integration-import-status"),
    path(IMP + "operations/", v.new_operations, name="integration-new-operations"),
    path(IMP + "configure/", v.new_configure, name="integration-new-configure"),
    path(I, v.integration_detail, name="integration-detail"),
    path(I + "try/", try_it_views.try_it_send, name="integration-try-it"),
    path(I + "edit/", v.integration_edit, name="integration-edit"),
    path(I + "edit/operations/", v.integration_edit_operations,
         name="integration-edit-operations"),
    path(I + "refresh/", v.integration_refresh, name="integration-refresh"),
    path(I + "refresh/<str:import_id>/apply/", v.integration_refresh_apply,
         name="integration-refresh-apply"),
    path(I + "delete/", v.integration_delete, name="integration-delete"),
]
