from django.urls import path

from . import views as v
from .audit import AuditListView

v1 = [
    path("workspaces/", v.WorkspaceListView.as_view(), name="api-workspaces"),
    path("workspaces/<str:workspace_id>/", v.WorkspaceDetailView.as_view(),
         name="api-workspace"),
    path("workspaces/<str:workspace_id>/members/", v.MemberListView.as_view(),
         name="api-members"),
    path("workspaces/<str:workspace_id>/members/<int:user_id>/", v.MemberDetailView.as_view(),
         name="api-member"),
    path("workspaces/<str:workspace_id>/invitations/", v.InvitationListView.as_view(),
         name="api-invitations"),
    path("workspaces/<str:workspace_id>/invitations/<int:invitation_id>/",
         v.InvitationDetailView.as_view(), name="api-invitation"),
    path("workspaces/<str:workspace_id>/apps/", v.AppListView.as_view(), name="api-apps"),
    path("workspaces/<str:workspace_id>/apps/<str:app_id>/", v.AppDetailView.as_view(),
         name="api-app"),
    path("workspaces/<str:workspace_id>/apps/<str:app_id>/service-tokens/",
         v.ServiceTokenListView.as_view(), name="api-service-tokens"),
    path("workspaces/<str:workspace_id>/apps/<str:app_id>/service-tokens/<int:token_id>/",
         v.ServiceTokenDetailView.as_view(), name="api-service-token"),
    path("workspaces/<str:workspace_id>/credits/", v.CreditsView.as_view(), name="api-credits"),
    path("workspaces/<str:workspace_id>/audit/", AuditListView.as_view(), name="api-audit"),
    path("tokens/", v.PersonalTokenListView.as_view(), name="api-tokens"),
    path("tokens/<int:token_id>/", v.PersonalTokenDetailView.as_view(), name="api-token"),
]

sdk = [
    path("apps/<str:app_id>/app-users/tokens", v.AppUserTokenView.as_view(),
         name="sdk-app-user-tokens"),
    path("apps/<str:app_id>/app-users/tokens/revoke", v.AppUserTokenRevokeView.as_view(),
         name="sdk-app-user-token-revoke"),
    path("apps/<str:app_id>/app-users/me", v.AppUserMeView.as_view(), name="sdk-app-user-me"),
]
