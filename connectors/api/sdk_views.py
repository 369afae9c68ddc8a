"""SDK API of connectors (sdk-protocol §1, §3.2–3.6). Paths have no trailing slash."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import exceptions, serializers
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations import proxy
from workspaces.api.sdk import SDKViewMixin, resolve_app

from .. import calls, services
from ..views import callback_url, launch_url

_ERROR = inline_serializer("ConnectorError", fields={
    "detail": serializers.CharField(),
    "code": serializers.CharField(allow_null=True),
})
_TOKEN = inline_serializer("ConnectorAccessToken", fields={
    "access_token": serializers.CharField(),
    "integration_type": serializers.CharField(),
    "connection_config": serializers.DictField(child=serializers.CharField(), allow_null=True),
})
_TOKEN_ERRORS = {
    401: OpenApiResponse(_ERROR, description="No or invalid credentials."),
    403: OpenApiResponse(_ERROR, description="Not a service token, or a metered connector "
                                             "(header X-Base44-Connector-Error: "
                                             "metered_connector_requires_proxy)."),
    404: OpenApiResponse(_ERROR, description="Unknown app, or not connected."),
    409: OpenApiResponse(_ERROR, description="The connection needs reconnecting "
                                             "(connector_needs_reconnect)."),
    502: OpenApiResponse(_ERROR, description="Refreshing the token failed; try again."),
}
_APP = OpenApiParameter("app_id", OpenApiTypes.STR, OpenApiParameter.PATH)


def _error(exc: services.ConnectorError) -> Response:
    return Response({"detail": exc.message, "code": exc.code}, status=exc.status,
                    headers=exc.headers)


class _Base(SDKViewMixin, APIView):
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    throttle_classes: list[Any] = []


class PlatformTokenView(_Base):
    @extend_schema(operation_id="connectors_get_connection", parameters=[
        _APP, OpenApiParameter("integration_type", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={200: _TOKEN, **_TOKEN_ERRORS},
        description="`asServiceRole.connectors.getConnection(type)` / `getAccessToken(type)`: "
                    "the app's shared access token (never a refresh token). Audited.")
    def get(self, request: Request, app_id: str, integration_type: str) -> Response:
        app, caller = resolve_app(request, app_id, allow=("service",))
        try:
            body = services.hand_off_platform(app, integration_type, caller_kind=caller.kind)
        except services.ConnectorError as exc:
            return _error(exc)
        return Response(body)


class WorkspaceTokenView(_Base):
    @extend_schema(operation_id="connectors_get_workspace_connection", parameters=[
        _APP, OpenApiParameter("connector_id", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={200: _TOKEN, **_TOKEN_ERRORS},
        description="`asServiceRole.connectors.getWorkspaceConnection(id)`.")
    def get(self, request: Request, app_id: str, connector_id: str) -> Response:
        app, caller = resolve_app(request, app_id, allow=("service",))
        try:
            body = services.hand_off_workspace(app, connector_id, caller_kind=caller.kind)
        except services.ConnectorError as exc:
            return _error(exc)
        return Response(body)


class AppUserTokenView(_Base):
    @extend_schema(operation_id="connectors_get_app_user_connection", parameters=[
        _APP, OpenApiParameter("connector_id", OpenApiTypes.STR, OpenApiParameter.PATH),
        OpenApiParameter("on-behalf-of", OpenApiTypes.STR, OpenApiParameter.HEADER,
                         required=True, description="`Bearer <app user JWT>`")],
        responses={200: _TOKEN, **_TOKEN_ERRORS},
        description="`asServiceRole.connectors.getCurrentAppUserConnection(id)`: the token "
                    "of the app user named by `on-behalf-of`.")
    def get(self, request: Request, app_id: str, connector_id: str) -> Response:
        app, caller = resolve_app(request, app_id, allow=("service",))
        if caller.on_behalf_of is None:
            raise exceptions.NotAuthenticated(
                "This call needs the app user: send 'on-behalf-of: Bearer <app user token>' "
                "(create the client with both serviceToken and token).")
        try:
            body = services.hand_off_app_user(app, caller.on_behalf_of, connector_id,
                                              caller_kind="service_on_behalf_of")
        except services.ConnectorError as exc:
            return _error(exc)
        return Response(body)


class AppUserInitiateView(_Base):
    @extend_schema(operation_id="connectors_connect_app_user", request=None, parameters=[
        _APP, OpenApiParameter("connector_id", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={200: inline_serializer("ConnectAppUser", fields={
            "redirect_url": serializers.URLField(),
            "connection_id": serializers.IntegerField(allow_null=True),
            "already_authorized": serializers.BooleanField(),
        }), 401: _ERROR, 403: _ERROR, 404: _ERROR},
        description="`connectors.connectAppUser(id)`: the URL to send the signed-in app "
                    "user's browser to: a one-time portal link (valid a few minutes) that binds "
                    "the attempt to the browser opening it (cookie) and forwards to the "
                    "provider. The state is bound to app, app user, connector and that "
                    "browser, single use and short-lived.")
    def post(self, request: Request, app_id: str, connector_id: str) -> Response:
        app, caller = resolve_app(request, app_id, allow=("app_user",))
        assert caller.app_user is not None
        try:
            connector = services.connector_for(app, connector_id)
            body = services.start_app_user_connect(app, caller.app_user, connector,
                                                   redirect_uri=callback_url(request))
        except services.ConnectorError as exc:
            return _error(exc)
        token = body.pop("launch_token")
        return Response({"redirect_url": launch_url(request, token), **body})


class AppUserDisconnectView(_Base):
    @extend_schema(operation_id="connectors_disconnect_app_user", parameters=[
        _APP, OpenApiParameter("connector_id", OpenApiTypes.STR, OpenApiParameter.PATH)],
        responses={200: inline_serializer("DisconnectAppUser", fields={
            "status": serializers.CharField(), "connector_id": serializers.CharField()}),
            401: _ERROR, 403: _ERROR, 404: _ERROR},
        description="`connectors.disconnectAppUser(id)`: deletes the current app user's "
                    "tokens and revokes them at the provider. Idempotent.")
    def delete(self, request: Request, app_id: str, connector_id: str) -> Response:
        app, caller = resolve_app(request, app_id, allow=("app_user",))
        assert caller.app_user is not None
        try:
            body = services.disconnect_app_user(app, caller.app_user, connector_id)
        except services.ConnectorError as exc:
            return _error(exc)
        return Response(body)


class CallApiView(_Base):
    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.request_id = proxy.new_request_id()
        return super().dispatch(request, *args, **kwargs)

    @extend_schema(
        operation_id="connectors_call_api",
        parameters=[_APP, OpenApiParameter("integration_type", OpenApiTypes.STR,
                                           OpenApiParameter.PATH)],
        request=inline_serializer("ConnectorCallRequest", fields={
            "method": serializers.ChoiceField(choices=sorted(calls.METHODS), required=False),
            "host": serializers.CharField(required=False,
                                          help_text="A declared host name; default the first."),
            "path": serializers.CharField(help_text="Relative to the API root, starts with /."),
            "query": serializers.DictField(required=False),
            "headers": serializers.DictField(child=serializers.CharField(), required=False),
            "body": serializers.JSONField(required=False, allow_null=True),
        }),
        responses={
            200: inline_serializer("ConnectorCallEnvelope", fields={
                "success": serializers.BooleanField(),
                "phase": serializers.ChoiceField(choices=["not_sent", "responded", "timed_out",
                                                          "sent_unconfirmed"]),
                "status_code": serializers.IntegerField(allow_null=True),
                "data": serializers.JSONField(allow_null=True),
                "data_base64": serializers.CharField(allow_null=True),
                "content_type": serializers.CharField(allow_null=True),
                "headers": serializers.DictField(child=serializers.CharField()),
                "credits_charged": serializers.IntegerField(),
            }),
            400: OpenApiResponse(_ERROR, description="Bad path, host, method or query."),
            401: _ERROR, 402: _ERROR, 403: _ERROR,
            404: OpenApiResponse(_ERROR, description="Unknown connector or not connected."),
            409: _ERROR,
            429: OpenApiResponse(_ERROR, description="The app's rate limit (shared with the "
                                                     "integration proxy); see Retry-After."),
        },
        description="`asServiceRole.connectors.callApi(type, request)`: the metered proxy. "
                    "Provider and transport outcomes are 200 envelopes.")
    def post(self, request: Request, app_id: str, integration_type: str) -> Response:
        app, caller = resolve_app(request, app_id, allow=("service",))
        result = calls.handle(app, integration_type, request.data, caller_kind=caller.kind,
                              request_id=self.request_id)
        return Response(result.body, status=result.status, headers=result.headers)
