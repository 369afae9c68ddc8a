"""Admin API (/api/v1/, personal access tokens or session) and the SDK token endpoints."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import extend_schema
from rest_framework import serializers as rf
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import app_caps, credits, services
from ..access import can_manage_app, get_workspace_for, get_workspace_object, require_role
from ..models import (
    App,
    AppServiceToken,
    CreditEntry,
    Invitation,
    Membership,
    PersonalAccessToken,
    Role,
    Workspace,
)
from . import serializers as s
from .schema import CONFLICT, PAGE_PARAMETER, paginated
from .sdk import SDKViewMixin, resolve_app


class WorkspaceListView(APIView):
    @extend_schema(responses=s.WorkspaceSerializer(many=True))
    def get(self, request: Request) -> Response:
        memberships = Membership.objects.filter(user=request.user)
        roles = {m.workspace_id: m.role for m in memberships}
        qs = Workspace.objects.filter(pk__in=roles).select_related("credits")
        return Response(s.WorkspaceSerializer(qs, many=True, context={"roles": roles}).data)

    @extend_schema(request=s.WorkspaceCreateSerializer, responses={201: s.WorkspaceSerializer})
    def post(self, request: Request) -> Response:
        data = s.WorkspaceCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ws = services.create_workspace(actor=request.user, name=data.validated_data["name"])
        return Response(s.WorkspaceSerializer(ws, context={"roles": {ws.pk: Role.OWNER}}).data,
                        status=201)


class WorkspaceDetailView(APIView):
    @extend_schema(responses=s.WorkspaceSerializer)
    def get(self, request: Request, workspace_id: str) -> Response:
        m = get_workspace_for(request.user, workspace_id)
        return Response(s.WorkspaceSerializer(m.workspace,
                                              context={"roles": {m.workspace_id: m.role}}).data)

    @extend_schema(request=s.WorkspaceUpdateSerializer, responses=s.WorkspaceSerializer)
    def patch(self, request: Request, workspace_id: str) -> Response:
        m = get_workspace_for(request.user, workspace_id, "manage_workspace")
        data = s.WorkspaceUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if "plan" in data.validated_data:
            require_role(m, "change_plan")
            services.change_plan(m.workspace, actor=request.user,
                                 plan=data.validated_data["plan"])
        if "name" in data.validated_data:
            services.update_workspace(m.workspace, actor=request.user,
                                      name=data.validated_data["name"])
        return Response(s.WorkspaceSerializer(m.workspace,
                                              context={"roles": {m.workspace_id: m.role}}).data)


class MemberListView(APIView):
    @extend_schema(responses=s.MemberSerializer(many=True))
    def get(self, request: Request, workspace_id: str) -> Response:
        m = get_workspace_for(request.user, workspace_id)
        qs = m.workspace.memberships.select_related("user")
        return Response(s.MemberSerializer(qs, many=True).data)


class MemberDetailView(APIView):
    def _target(self, request: Request, workspace_id: str,
                user_id: int) -> tuple[Membership, Membership]:
        target, m = get_workspace_object(request.user, workspace_id,
                                         Membership.objects.select_related("user", "workspace"),
                                         user_id=user_id)
        return m, target

    @extend_schema(request=s.RoleSerializer, responses=s.MemberSerializer)
    def patch(self, request: Request, workspace_id: str, user_id: int) -> Response:
        m, target = self._target(request, workspace_id, user_id)
        require_role(m, "manage_members")
        data = s.RoleSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.change_role(target, actor=request.user, role=data.validated_data["role"])
        return Response(s.MemberSerializer(target).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, workspace_id: str, user_id: int) -> Response:
        m, target = self._target(request, workspace_id, user_id)
        if target.user_id != request.user.pk:
            require_role(m, "manage_members")
        services.remove_member(target, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationListView(APIView):
    @extend_schema(responses=s.InvitationSerializer(many=True))
    def get(self, request: Request, workspace_id: str) -> Response:
        m = get_workspace_for(request.user, workspace_id, "manage_members")
        qs = m.workspace.invitations.filter(accepted_at=None, revoked_at=None)
        return Response(s.InvitationSerializer(qs, many=True).data)

    @extend_schema(request=s.InvitationSerializer,
                   responses={201: s.InvitationSerializer, 409: CONFLICT})
    def post(self, request: Request, workspace_id: str) -> Response:
        m = get_workspace_for(request.user, workspace_id, "manage_members")
        data = s.InvitationSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        inv = services.invite(m.workspace, actor=request.user, **data.validated_data,
                              link_base=request.build_absolute_uri("/"))
        return Response(s.InvitationSerializer(inv).data, status=201)


class InvitationDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, workspace_id: str, invitation_id: int) -> Response:
        inv, _ = get_workspace_object(request.user, workspace_id, Invitation, "manage_members",
                                      pk=invitation_id)
        services.revoke_invitation(inv, actor=request.user)
        return Response(status=204)


class AppListView(APIView):
    @extend_schema(responses=s.AppSerializer(many=True))
    def get(self, request: Request, workspace_id: str) -> Response:
        m = get_workspace_for(request.user, workspace_id)
        qs = list(m.workspace.apps.select_related("workspace"))
        used = app_caps.used_this_month(qs)  # one query for the list, not one per app
        return Response(s.AppSerializer(qs, many=True, context={"used_this_month": used}).data)

    @extend_schema(request=s.AppSerializer, responses={201: s.AppSerializer})
    def post(self, request: Request, workspace_id: str) -> Response:
        m = get_workspace_for(request.user, workspace_id, "create_app")
        data = s.AppSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        app = services.create_app(m.workspace, actor=request.user, **data.validated_data)
        return Response(s.AppSerializer(app).data, status=201)


class AppDetailView(APIView):
    @extend_schema(responses=s.AppSerializer)
    def get(self, request: Request, workspace_id: str, app_id: str) -> Response:
        app, _ = get_workspace_object(request.user, workspace_id, App, public_id=app_id)
        return Response(s.AppSerializer(app).data)

    @extend_schema(request=s.AppSerializer, responses=s.AppSerializer)
    def patch(self, request: Request, workspace_id: str, app_id: str) -> Response:
        app, m = get_workspace_object(request.user, workspace_id, App, public_id=app_id)
        can_manage_app(m, app)
        data = s.AppSerializer(app, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.update_app(app, actor=request.user, **data.validated_data)
        return Response(s.AppSerializer(app).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, workspace_id: str, app_id: str) -> Response:
        app, m = get_workspace_object(request.user, workspace_id, App, public_id=app_id)
        can_manage_app(m, app)
        services.delete_app(app, actor=request.user)
        return Response(status=204)


class ServiceTokenListView(APIView):
    @extend_schema(responses=s.ServiceTokenSerializer(many=True))
    def get(self, request: Request, workspace_id: str, app_id: str) -> Response:
        app, m = get_workspace_object(request.user, workspace_id, App, public_id=app_id)
        can_manage_app(m, app)
        return Response(s.ServiceTokenSerializer(app.service_tokens.all(), many=True).data)

    @extend_schema(request=s.NameSerializer, responses={201: s.NewTokenSerializer})
    @method_decorator(sensitive_variables("raw"))  # a new token: not in error reports
    def post(self, request: Request, workspace_id: str, app_id: str) -> Response:
        app, m = get_workspace_object(request.user, workspace_id, App, public_id=app_id)
        can_manage_app(m, app)
        data = s.NameSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row, raw = services.create_service_token(app, actor=request.user,
                                                 name=data.validated_data.get("name", ""))
        return Response({"id": row.pk, "name": row.name, "token": raw}, status=201)


class ServiceTokenDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, workspace_id: str, app_id: str, token_id: int) -> Response:
        app, m = get_workspace_object(request.user, workspace_id, App, public_id=app_id)
        can_manage_app(m, app)
        row = get_object_or_404(AppServiceToken, app=app, pk=token_id)
        services.revoke_service_token(row, actor=request.user)
        return Response(status=204)


class PersonalTokenListView(APIView):
    @extend_schema(responses=s.PersonalTokenSerializer(many=True))
    def get(self, request: Request) -> Response:
        qs = PersonalAccessToken.objects.filter(user=request.user)
        return Response(s.PersonalTokenSerializer(qs, many=True).data)

    @extend_schema(request=s.PersonalTokenNameSerializer, responses={201: s.NewTokenSerializer})
    @method_decorator(sensitive_variables("raw"))  # a new token: not in error reports
    def post(self, request: Request) -> Response:
        data = s.PersonalTokenNameSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row, raw = services.create_personal_token(actor=request.user,
                                                  name=data.validated_data["name"])
        return Response({"id": row.pk, "name": row.name, "token": raw}, status=201)


class PersonalTokenDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, token_id: int) -> Response:
        row = get_object_or_404(PersonalAccessToken, user=request.user, pk=token_id)
        services.revoke_personal_token(row, actor=request.user)
        return Response(status=204)


class CreditsView(APIView):
    @extend_schema(responses=paginated(s.CreditEntrySerializer, balance=rf.IntegerField(
        help_text="The workspace's credit balance now.")), parameters=[PAGE_PARAMETER],
                   operation_id="v1_workspaces_credits_list")
    def get(self, request: Request, workspace_id: str) -> Response:
        m = get_workspace_for(request.user, workspace_id)
        paginator = PageNumberPagination()
        qs = CreditEntry.objects.filter(workspace=m.workspace).order_by("-created_at", "-id")
        page = paginator.paginate_queryset(qs, request, view=self)
        response = paginator.get_paginated_response(s.CreditEntrySerializer(page, many=True).data)
        response.data["balance"] = credits.balance(m.workspace)
        return response


# --- SDK: app-user tokens ---------------------------------------------------------------------


class AppUserTokenView(SDKViewMixin, APIView):
    @extend_schema(request=s.AppUserTokenRequestSerializer,
                   responses={201: s.AppUserTokenSerializer},
                   description="Service role: mint a signed, expiring token for one app user.")
    @method_decorator(sensitive_variables("minted"))  # a new token: not in error reports
    def post(self, request: Request, app_id: str) -> Response:
        app, _ = resolve_app(request, app_id, allow=("service",))
        data = s.AppUserTokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        minted = services.mint_app_user_token(app, data.validated_data["app_user_id"],
                                              data.validated_data.get("ttl_seconds"))
        return Response({"token": minted.token, "token_type": "Bearer",
                         "app_user_id": data.validated_data["app_user_id"],
                         "expires_at": minted.expires_at}, status=201)


class AppUserTokenRevokeView(SDKViewMixin, APIView):
    @extend_schema(request=s.RevokeAppUserTokenSerializer, responses={204: None},
                   description="Service role: revoke one app-user token.")
    def post(self, request: Request, app_id: str) -> Response:
        app, _ = resolve_app(request, app_id, allow=("service",))
        data = s.RevokeAppUserTokenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.revoke_app_user_token(app, data.validated_data["token"])
        return Response(status=204)


class AppUserMeView(SDKViewMixin, APIView):
    @extend_schema(responses={200: dict}, description="App user: who am I.")
    def get(self, request: Request, app_id: str) -> Response:
        app, caller = resolve_app(request, app_id, allow=("app_user",))
        return Response({"app_id": app.public_id, "app_user_id": caller.app_user.external_id})


