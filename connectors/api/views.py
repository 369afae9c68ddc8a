"""Admin API of connectors (/api/v1/, personal access tokens): registered connectors and the
connections' status. Secrets are write-only; tokens are never returned."""

from __future__ import annotations

from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.access import get_workspace_for, get_workspace_object
from workspaces.api.errors import service_error_status
from workspaces.api.schema import CONFLICT
from workspaces.models import App

from .. import services
from ..models import Connection, WorkspaceConnector
from . import serializers as s

_sensitive = method_decorator(sensitive_post_parameters("client_secret"), name="dispatch")


def _error(exc: services.ConnectorError) -> Response:
    body = {"detail": exc.message, "code": exc.code}
    if exc.field:
        body["errors"] = {exc.field: [exc.message]}
    return Response(body, status=service_error_status(exc))


@_sensitive
class ConnectorListView(APIView):
    @extend_schema(responses=s.WorkspaceConnectorSerializer(many=True),
                   description="The workspace's registered OAuth connectors.")
    def get(self, request: Request, workspace_id: str) -> Response:
        m = get_workspace_for(request.user, workspace_id)
        rows = WorkspaceConnector.objects.filter(workspace=m.workspace)
        return Response(s.WorkspaceConnectorSerializer(rows, many=True).data)

    @extend_schema(request=s.WorkspaceConnectorCreateSerializer,
                   responses={201: s.WorkspaceConnectorSerializer, 409: CONFLICT},
                   description="Register a connector (admin). The client secret is stored "
                               "encrypted and never returned.")
    def post(self, request: Request, workspace_id: str) -> Response:
        m = get_workspace_for(request.user, workspace_id, "manage_connectors")
        data = s.WorkspaceConnectorCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            connector = services.create_connector(
                m.workspace, actor=request.user, name=v["name"], client_id=v["client_id"],
                client_secret=v.get("client_secret", ""),
                provider_type=v.get("provider_type", ""),
                authorize_url=v.get("authorize_url", ""), token_url=v.get("token_url", ""),
                revocation_url=v.get("revocation_url", ""), scopes=v.get("scopes", ""),
                pkce=v.get("pkce", True), token_auth=v.get("token_auth", "post"))
        except services.ConnectorError as exc:
            return _error(exc)
        return Response(s.WorkspaceConnectorSerializer(connector).data, status=201)


@_sensitive
class ConnectorDetailView(APIView):
    def _get(self, request: Request, workspace_id: str, connector_id: str,
             action: str = "view") -> WorkspaceConnector:
        obj, _ = get_workspace_object(request.user, workspace_id, WorkspaceConnector, action,
                                      public_id=connector_id)
        return obj

    @extend_schema(responses=s.WorkspaceConnectorSerializer)
    def get(self, request: Request, workspace_id: str, connector_id: str) -> Response:
        return Response(s.WorkspaceConnectorSerializer(
            self._get(request, workspace_id, connector_id)).data)

    @extend_schema(request=s.WorkspaceConnectorSerializer,
                   responses={200: s.WorkspaceConnectorSerializer, 409: CONFLICT},
                   description="Edit (admin). A non-empty `client_secret` replaces the "
                               "stored one in the same save; it is required when an authorize, "
                               "token or revocation URL (or the provider type) moves to another "
                               "origin (scheme, host, port): 400 `client_secret_required` "
                               "otherwise.")
    def patch(self, request: Request, workspace_id: str, connector_id: str) -> Response:
        connector = self._get(request, workspace_id, connector_id, "manage_connectors")
        data = s.WorkspaceConnectorSerializer(connector, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = {k: v for k, v in data.validated_data.items() if k in services.EDITABLE}
        try:
            services.update_connector(connector, actor=request.user,
                                      client_secret=data.validated_data.get("client_secret", ""),
                                      **values)
        except services.ConnectorError as exc:
            return _error(exc)
        return Response(s.WorkspaceConnectorSerializer(connector).data)

    @extend_schema(responses={204: None},
                   description="Delete (admin), with every connection made through it (tokens "
                               "revoked at the provider).")
    def delete(self, request: Request, workspace_id: str, connector_id: str) -> Response:
        connector = self._get(request, workspace_id, connector_id, "manage_connectors")
        services.delete_connector(connector, actor=request.user)
        return Response(status=204)


@_sensitive
class RotateSecretView(APIView):
    @extend_schema(request=s.RotateSecretSerializer, responses={204: None},
                   description="Replace the client secret (admin).")
    def post(self, request: Request, workspace_id: str, connector_id: str) -> Response:
        connector, _ = get_workspace_object(request.user, workspace_id, WorkspaceConnector,
                                            "manage_connectors", public_id=connector_id)
        data = s.RotateSecretSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.rotate_client_secret(connector, actor=request.user,
                                          client_secret=data.validated_data["client_secret"])
        except services.ConnectorError as exc:
            return _error(exc)
        return Response(status=204)


class AppConnectionListView(APIView):
    @extend_schema(responses=s.ConnectionSerializer(many=True),
                   description="An app's connections and their status (never tokens).")
    def get(self, request: Request, workspace_id: str, app_id: str) -> Response:
        app, _ = get_workspace_object(request.user, workspace_id, App, public_id=app_id)
        rows = (Connection.objects.filter(app=app)
                .select_related("connector", "app_user").order_by("kind", "id"))
        return Response(s.ConnectionSerializer(rows, many=True).data)
