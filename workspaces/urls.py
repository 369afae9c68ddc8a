from django.contrib.auth import views as auth_views
from django.urls import path

from . import audit_views, views
from .forms import EmailAuthenticationForm, QueuedPasswordResetForm

urlpatterns = [
    path("", views.home, name="home"),
    path("signup/", views.signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(authentication_form=EmailAuthenticationForm,
                                                redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", auth_views.PasswordResetView.as_view(
        form_class=QueuedPasswordResetForm), name="password_reset"),
    path("password-reset/sent/", auth_views.PasswordResetDoneView.as_view(),
         name="password_reset_done"),
    path("reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(),
         name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(),
         name="password_reset_complete"),
    path("tokens/", views.personal_tokens, name="personal-tokens"),
    path("workspaces/", views.workspace_list, name="workspaces"),
    path("invite/<str:public_id>/", views.invitation, name="invitation"),
    path("w/<str:workspace_id>/", views.workspace_home, name="workspace"),
    path("w/<str:workspace_id>/settings/", views.workspace_settings, name="workspace-settings"),
    path("w/<str:workspace_id>/members/", views.members, name="members"),
    path("w/<str:workspace_id>/members/<int:membership_id>/role/", views.member_role,
         name="member-role"),
    path("w/<str:workspace_id>/members/<int:membership_id>/remove/", views.member_remove,
         name="member-remove"),
    path("w/<str:workspace_id>/invitations/<int:invitation_id>/revoke/",
         views.invitation_revoke, name="invitation-revoke"),
    path("w/<str:workspace_id>/apps/", views.apps, name="apps"),
    path("w/<str:workspace_id>/apps/<str:app_id>/", views.app_detail, name="app-detail"),
    path("w/<str:workspace_id>/audit/", audit_views.audit_page, name="workspace-audit"),
    path("w/<str:workspace_id>/audit.csv", audit_views.audit_csv, name="workspace-audit-csv"),
]
