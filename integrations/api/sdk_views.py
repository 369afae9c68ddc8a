"""SDK API of integrations: ``integrations.custom.call`` (sdk-protocol §3.1)."""

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

from workspaces import tokens
from workspaces.api.authentication import bearer
from workspaces.api.sdk import SDKViewMixin, resolve_app
from workspaces.models import App, PersonalAccessToken

from .. import proxy

_ERROR = inline_serializer("ProxyError", fields={
    "detail": serializers.CharField(),
    "code": serializers.CharField(),
    "phase": serializers.CharField(required=False,
                                   help_text="502/504: how far the call got (not_sent, "
                                             "timed_out, sent_unconfirmed, responded)."),
    "errors": serializers.DictField(required=False, help_text="400: the field errors."),
})


def _anonymous_allowed(app: App) -> bool:
    return app.allow_anonymous_integration_calls


PERSONAL_TOKEN_403 = ("A personal access token can't call an app's integrations: use the app's "
                      "service token or an app-user token of the app.")


def refuse_personal_tokens(request: Request) -> None:
    """403 for a valid credential of the wrong kind: a portal user's personal access token
    (``sbp_``) is a real credential, but it does not speak for an app. Unknown, revoked or
    malformed tokens are left to the SDK authentication (401)."""
    try:
        raw = bearer(request)
    except exceptions.AuthenticationFailed:
        return
    if raw is not None and raw.startswith(PersonalAccessToken.TOKEN_TYPE + "_"):
        row = tokens.verify(PersonalAccessToken, raw, select_related=("user",))
        if row is not None and row.user.is_active:
            raise exceptions.PermissionDenied(PERSONAL_TOKEN_403)


class CustomIntegrationCallView(SDKViewMixin, APIView):
    """The proxy. The app in the path must be the caller's (service token or app-user token of
    that app); anonymous callers only when the app allows anonymous integration calls."""

    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]
    throttle_classes: list[Any] = []
    # the gate's Redis round trip reads the shared epoch too (``bulkhead.admit``)
    optimistic_lookups = True

    def perform_authentication(self, request: Request) -> None:
        refuse_personal_tokens(request)
        super().perform_authentication(request)

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        self.request_id = proxy.new_request_id()
        response = super().dispatch(request, *args, **kwargs)
        response.headers.setdefault(proxy.REQUEST_ID_HEADER, self.request_id)
        return response

    @extend_schema(
        operation_id="integrations_custom_call",
        parameters=[
            OpenApiParameter("app_id", OpenApiTypes.STR, OpenApiParameter.PATH),
            OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH,
                             description="The integration's slug in the app's workspace."),
            OpenApiParameter("operation", OpenApiTypes.STR, OpenApiParameter.PATH,
                             description="`method:path` of a selected operation, e.g. "
                                         "`get:/pets/{petId}` (sent unencoded by the SDK)."),
        ],
        request=inline_serializer("CustomCallRequest", fields={
            "payload": serializers.JSONField(required=False, allow_null=True,
                                             help_text="The request body (JSON)."),
            "path_params": serializers.DictField(required=False),
            "query_params": serializers.DictField(required=False,
                                                  help_text="Arrays become repeated keys."),
            "headers": serializers.DictField(
                child=serializers.CharField(), required=False,
                help_text="Extra headers; the integration's headers always win."),
            "include_headers": serializers.BooleanField(
                required=False, help_text="Also return the upstream's response headers."),
        }),
        responses={
            200: inline_serializer("CustomCallEnvelope", fields={
                "success": serializers.BooleanField(help_text="The upstream answered 2xx."),
                "status_code": serializers.IntegerField(help_text="The upstream's status."),
                "data": serializers.JSONField(allow_null=True),
                "data_base64": serializers.CharField(required=False,
                                                     help_text="Binary bodies only."),
                "content_type": serializers.CharField(required=False,
                                                      help_text="Binary bodies only."),
                "headers": serializers.DictField(child=serializers.CharField(),
                                                 required=False),
                "sandbox": serializers.BooleanField(
                    required=False, help_text="Present (true) when the app is in sandbox mode: "
                                              "answered from the spec, nothing sent or charged."),
            }),
            400: OpenApiResponse(_ERROR, description="Invalid parameters (nothing sent)."),
            401: OpenApiResponse(_ERROR, description="No or invalid credentials."),
            402: OpenApiResponse(_ERROR, description="The workspace has no credits left."),
            403: OpenApiResponse(_ERROR, description="A valid token of the wrong kind (a "
                                                     "personal access token)."),
            404: OpenApiResponse(_ERROR, description="Unknown app, integration or operation."),
            429: OpenApiResponse(_ERROR, description="The app's rate limit (Retry-After)."),
            502: OpenApiResponse(_ERROR, description="The upstream could not be reached, "
                                                     "answered garbage, or is not allowed."),
            503: OpenApiResponse(_ERROR, description="The integration's configured headers "
                                                     "can't be loaded."),
            504: OpenApiResponse(_ERROR, description="The upstream did not answer in time."),
        },
        description="Call a selected operation of a workspace integration (the proxy). Any "
                    "upstream answer is a 200 envelope; `X-Request-Id` names the call in the "
                    "dashboard's Calls page.",
    )
    def post(self, request: Request, app_id: str, slug: str, operation: str) -> Response:
        app, caller = resolve_app(request, app_id, anonymous_allowed=_anonymous_allowed)
        result = proxy.handle(
            app,
            caller_kind=caller.kind,
            slug=slug,
            operation=operation,
            query_string=request.META.get("QUERY_STRING", ""),
            body=request.data,
            request_id=self.request_id,
        )
        return Response(result.body, status=result.status, headers=result.headers)
