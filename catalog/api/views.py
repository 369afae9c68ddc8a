"""Catalog admin API (/api/v1/) and the service-role SDK endpoint for an app's integrations."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers as rf
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.access import can_manage_app, get_workspace_for, get_workspace_object, require_role
from workspaces.api.schema import CONFLICT, PAGE_PARAMETER, paginated
from workspaces.api.sdk import SDKViewMixin, resolve_app
from workspaces.api.strict import StrictSerializer
from workspaces.models import App

from .. import prompt_checks, services
from ..access import get_own_integration
from ..models import CatalogIntegration, Installation, IntegrationRevision, Notification
from . import serializers as s


def _own(request: Request, workspace_id: str, integration_id: str,
         edit: bool = False) -> CatalogIntegration:
    return get_own_integration(request.user, workspace_id, integration_id, edit=edit)[0]


def _link_base(request: Request) -> str:
    return request.build_absolute_uri("/").rstrip("/")


class CatalogIntegrationListView(APIView):
    @extend_schema(responses=s.IntegrationSerializer(many=True),
                   description="The workspace's own integrations (its private catalog).")
    def get(self, request: Request, workspace_id: str) -> Response:
        m = get_workspace_for(request.user, workspace_id)
        qs = services.private_catalog(m.workspace).select_related(
            "workspace", "live_revision", "pending_revision")
        return Response(s.IntegrationSerializer(qs, many=True).data)

    @extend_schema(request=s.IntegrationWriteSerializer,
                   responses={201: s.IntegrationSerializer, 409: CONFLICT})
    def post(self, request: Request, workspace_id: str) -> Response:
        m = get_workspace_for(request.user, workspace_id)
        data = s.IntegrationWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        integration = services.create_integration(m.workspace, actor=request.user,
                                                  data=data.validated_data)
        return Response(s.IntegrationSerializer(integration).data, status=201)


class CatalogIntegrationDetailView(APIView):
    @extend_schema(responses=s.IntegrationSerializer)
    def get(self, request: Request, workspace_id: str, integration_id: str) -> Response:
        return Response(s.IntegrationSerializer(_own(request, workspace_id,
                                                     integration_id)).data)

    @extend_schema(request=s.IntegrationWriteSerializer,
                   responses={200: s.IntegrationSerializer, 409: CONFLICT})
    def patch(self, request: Request, workspace_id: str, integration_id: str) -> Response:
        integration = _own(request, workspace_id, integration_id, edit=True)
        data = s.IntegrationWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.update_integration(integration, actor=request.user, data=data.validated_data)
        return Response(s.IntegrationSerializer(integration).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, workspace_id: str, integration_id: str) -> Response:
        integration = _own(request, workspace_id, integration_id, edit=True)
        services.delete_integration(integration, actor=request.user)
        return Response(status=204)


class CatalogSubmitView(APIView):
    @extend_schema(request=None, responses={201: s.RevisionSerializer, 409: CONFLICT},
                   description="Submit the working copy for review (public integrations only; "
                               "prompt check errors block it).")
    def post(self, request: Request, workspace_id: str, integration_id: str) -> Response:
        integration = _own(request, workspace_id, integration_id, edit=True)
        try:
            revision = services.submit_for_review(integration, actor=request.user,
                                                  link_base=_link_base(request))
        except services.ChecksFailed as exc:
            return Response({"detail": exc.message, "code": exc.code,
                             "checks": exc.result.as_dict()}, status=400)
        return Response(s.RevisionSerializer(revision).data, status=201)


class CatalogWithdrawView(APIView):
    @extend_schema(request=None, responses=s.IntegrationSerializer)
    def post(self, request: Request, workspace_id: str, integration_id: str) -> Response:
        integration = _own(request, workspace_id, integration_id, edit=True)
        services.withdraw_submission(integration, actor=request.user)
        return Response(s.IntegrationSerializer(integration).data)


class PublicCatalogListView(APIView):
    @extend_schema(responses=paginated(s.PublicIntegrationSerializer),
                   operation_id="v1_catalog_integrations_list",
                   parameters=[OpenApiParameter("category", str), OpenApiParameter("q", str),
                               PAGE_PARAMETER],
                   description="The public catalog: approved integrations, live revision.")
    def get(self, request: Request) -> Response:
        qs = services.search_catalog(
            services.public_catalog(), q=request.query_params.get("q", ""),
            category=request.query_params.get("category", ""), prefix="live_revision__",
        ).order_by("live_revision__name", "pk")
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(
            s.PublicIntegrationSerializer([i.live_revision for i in page], many=True).data)


class PublicCatalogDetailView(APIView):
    @extend_schema(responses=s.PublicIntegrationSerializer)
    def get(self, request: Request, integration_id: str) -> Response:
        integration = get_object_or_404(services.public_catalog(), public_id=integration_id)
        return Response(s.PublicIntegrationSerializer(integration.live_revision).data)


class PromptCheckView(APIView):
    @extend_schema(request=s.CheckRequestSerializer, responses=s.CheckResultSerializer,
                   description="Run the prompt checks without saving anything.")
    def post(self, request: Request) -> Response:
        data = s.CheckRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = prompt_checks.run_checks(**data.validated_data)
        return Response(result.as_dict())


def _require_reviewer(request: Request) -> None:
    if not services.is_reviewer(request.user):
        raise PermissionDenied("Reviewing needs the reviewer (staff) permission.")


class ReviewQueueView(APIView):
    @extend_schema(responses=paginated(s.RevisionSerializer), parameters=[PAGE_PARAMETER],
                   operation_id="v1_catalog_reviews_list",
                   description="Reviewers: revisions waiting for review, oldest first.")
    def get(self, request: Request) -> Response:
        _require_reviewer(request)
        qs = (IntegrationRevision.objects.filter(status=IntegrationRevision.Status.SUBMITTED)
              .select_related("integration", "integration__workspace", "submitted_by")
              .order_by("submitted_at", "pk"))
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(s.RevisionSerializer(page, many=True).data)


class ReviewDecisionView(APIView):
    @extend_schema(request=s.DecisionSerializer,
                   responses={200: s.RevisionSerializer, 409: CONFLICT},
                   description="Reviewers: approve, reject or request changes (a comment is "
                               "required for the last two). Nobody decides on their own "
                               "submission.")
    def post(self, request: Request, revision_id: int) -> Response:
        _require_reviewer(request)
        revision = get_object_or_404(IntegrationRevision.objects.select_related("integration"),
                                     pk=revision_id)
        data = s.DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        revision = services.decide(revision, actor=request.user, link_base=_link_base(request),
                                   **data.validated_data)
        return Response(s.RevisionSerializer(revision).data)


def _installation_rows(app: App, only: Installation | None = None) -> list[dict[str, Any]]:
    rows = services.installed_for_app(app)
    if only is not None:
        rows = [r for r in rows if r["installation"].pk == only.pk]
    return [{**r, "secrets": [asdict(x) for x in r["secrets"]]} for r in rows]


class InstallationListView(APIView):
    @extend_schema(responses=s.InstallationSerializer(many=True))
    def get(self, request: Request, workspace_id: str, app_id: str) -> Response:
        app, _ = get_workspace_object(request.user, workspace_id, App, public_id=app_id)
        return Response(s.InstallationSerializer(_installation_rows(app), many=True).data)

    @extend_schema(request=s.InstallRequestSerializer, responses={201: s.InstallationSerializer},
                   description="Use a catalog integration in this app: values go to the app's "
                               "vault secrets, never into the catalog.")
    def post(self, request: Request, workspace_id: str, app_id: str) -> Response:
        app, m = get_workspace_object(request.user, workspace_id, App, public_id=app_id)
        can_manage_app(m, app)
        data = s.InstallRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        if any(data.validated_data["secrets"].values()):
            require_role(m, "manage_secrets")  # writing secret values is an admin action
        integration = services.usable_by(m.workspace).filter(
            public_id=data.validated_data["integration"]).first()
        if integration is None:
            raise Http404("No such integration.")
        installation, missing = services.install_integration(
            app, integration, actor=request.user, values=data.validated_data["secrets"],
            reuse=set(data.validated_data["reuse"]))
        row = _installation_rows(app, installation)[0]
        return Response(s.InstallationSerializer({**row, "missing": missing}).data, status=201)


class InstallationDetailView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request: Request, workspace_id: str, app_id: str,
               installation_id: str) -> Response:
        app, m = get_workspace_object(request.user, workspace_id, App, public_id=app_id)
        can_manage_app(m, app)
        inst = get_object_or_404(Installation.objects.select_related("app", "integration"),
                                 app=app, public_id=installation_id)
        services.uninstall_integration(inst, actor=request.user)
        return Response(status=204)


class NotificationListView(APIView):
    @extend_schema(responses=paginated(s.NotificationSerializer), parameters=[PAGE_PARAMETER],
                   operation_id="v1_notifications_list")
    def get(self, request: Request) -> Response:
        qs = Notification.objects.filter(recipient=request.user).select_related("integration")
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(s.NotificationSerializer(page, many=True).data)


class NotificationReadSerializer(StrictSerializer):
    ids = rf.ListField(child=rf.IntegerField(), required=False,
                       help_text="Mark these read; all when omitted.")


class NotificationReadView(APIView):
    @extend_schema(request=NotificationReadSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        data = NotificationReadSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.mark_read(request.user, data.validated_data.get("ids"))
        return Response(status=204)


# --- SDK (service role) -------------------------------------------------------------------


class AppCatalogIntegrationsView(SDKViewMixin, APIView):
    @extend_schema(responses=s.InstalledIntegrationSerializer(many=True),
                   description="Service role: the app's installed catalog integrations with their "
                               "prompts and variable names (never values), for app builders and "
                               "tooling.")
    def get(self, request: Request, app_id: str) -> Response:
        app, _ = resolve_app(request, app_id, allow=("service",))
        rows = _installation_rows(app)
        return Response(s.InstalledIntegrationSerializer(rows, many=True).data)


