"""Admin API for secrets and Custom APIs (/api/v1/), and the SDK's functions/env endpoint."""

from __future__ import annotations

import logging
from typing import Any

from django.http import Http404
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces.access import get_workspace_for, get_workspace_object, require_role
from workspaces.api.schema import CONFLICT
from workspaces.api.sdk import SDKViewMixin, resolve_app
from workspaces.models import App, Membership

from .. import services
from ..crypto import DecryptionFailed
from ..models import CustomApi, Secret
from . import serializers as s

log = logging.getLogger(__name__)
_sensitive = method_decorator(sensitive_post_parameters("value", "credential", "username"),
                              name="dispatch")
# Error reports list each frame's locals: the parsed body (values, credentials) is one of them.
_hide_locals = method_decorator(sensitive_variables())
# A services.VaultError raised here becomes a 400 (403 for code "forbidden") with
# {"detail", "code", "errors": {field: [message]}} in workspaces.api.errors.exception_handler.


def _scope(request: Request, workspace_id: str, app_id: str | None,
           action: str = "view") -> tuple[Membership, App | None]:
    if app_id is None:
        return get_workspace_for(request.user, workspace_id, action), None
    app, m = get_workspace_object(request.user, workspace_id, App, action, public_id=app_id)
    return m, app


def _secret(m: Membership, app: App | None, name: str) -> Secret:
    secret = services.get_user_secret(m.workspace, name, app=app)
    if secret is None:
        raise Http404("No such secret.")
    return secret


@_sensitive
class SecretListView(APIView):
    """Workspace secrets (no app_id) or one app's secrets."""

    @extend_schema(responses=s.SecretSerializer(many=True),
                   description="Secret names and metadata of one scope. Values are never "
                               "returned.")
    def get(self, request: Request, workspace_id: str, app_id: str | None = None) -> Response:
        m, app = _scope(request, workspace_id, app_id)
        return Response(s.SecretSerializer(services.list_secrets(m.workspace, app),
                                           many=True).data)

    @extend_schema(request=s.SecretSerializer, responses={201: s.SecretSerializer, 409: CONFLICT},
                   description="Create a secret (admin). 409 `duplicate` if the name exists: "
                               "PUT to the secret replaces its value.")
    @_hide_locals
    def post(self, request: Request, workspace_id: str, app_id: str | None = None) -> Response:
        m, app = _scope(request, workspace_id, app_id, "manage_secrets")
        data = s.SecretSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        secret = services.create_secret(
            m.workspace, data.validated_data["name"], data.validated_data["value"],
            app=app, actor=request.user, description=data.validated_data.get("description", ""))
        return Response(s.SecretSerializer(secret).data, status=201)


@_sensitive
class SecretDetailView(APIView):
    @extend_schema(responses=s.SecretDetailSerializer,
                   description="A secret's metadata and version history (never values).")
    def get(self, request: Request, workspace_id: str, name: str,
            app_id: str | None = None) -> Response:
        m, app = _scope(request, workspace_id, app_id)
        return Response(s.SecretDetailSerializer(_secret(m, app, name)).data)

    @extend_schema(request=s.SecretReplaceSerializer,
                   responses={200: s.SecretSerializer, 201: s.SecretSerializer},
                   description="Set the value (admin): replaces it (the version rises) or creates "
                               "the secret. Omit description to keep the current one.")
    @_hide_locals
    def put(self, request: Request, workspace_id: str, name: str,
            app_id: str | None = None) -> Response:
        m, app = _scope(request, workspace_id, app_id, "manage_secrets")
        data = s.SecretReplaceSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        existed = services.get_secret(m.workspace, name, app=app)
        if existed is not None and existed.kind != Secret.Kind.USER:
            raise Http404("No such secret.")
        secret = services.set_secret(m.workspace, name, data.validated_data["value"], app=app,
                                     actor=request.user,
                                     description=data.validated_data.get("description"))
        return Response(s.SecretSerializer(secret).data, status=200 if existed else 201)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, workspace_id: str, name: str,
               app_id: str | None = None) -> Response:
        m, app = _scope(request, workspace_id, app_id)
        secret = _secret(m, app, name)
        require_role(m, "manage_secrets")
        services.delete_secret(secret, actor=request.user)
        return Response(status=204)


def _scope_app(m: Membership, scope: str | None, app_id: str | None) -> App | None:
    if scope == "app" or (scope is None and app_id):
        if not app_id:
            raise services.VaultError("Give the app's id for an app-specific Custom API.",
                                      "invalid", "app")
        app = App.objects.filter(workspace=m.workspace, public_id=app_id).first()
        if app is None:
            raise services.VaultError("No such app in this workspace.", "invalid", "app")
        return app
    return None


@_sensitive
class CustomApiListView(APIView):
    @extend_schema(responses=s.CustomApiSerializer(many=True),
                   description="Custom APIs of the workspace (credentials never returned).")
    def get(self, request: Request, workspace_id: str) -> Response:
        m = get_workspace_for(request.user, workspace_id)
        return Response(s.CustomApiSerializer(services.list_custom_apis(m.workspace),
                                              many=True).data)

    @extend_schema(request=s.CUSTOM_API_CREATE,
                   responses={201: s.CustomApiSerializer, 409: CONFLICT},
                   description="Create (admin). The credential depends on auth_type: a key or "
                               "token (api_key, bearer), or a user name and password (basic).")
    @_hide_locals
    def post(self, request: Request, workspace_id: str) -> Response:
        m = get_workspace_for(request.user, workspace_id, "manage_custom_apis")
        data = s.custom_api_create(request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        api = services.create_custom_api(
            m.workspace, actor=request.user, name=v["name"], auth_type=v["auth_type"],
            credential=v.get("credential", ""), username=v.get("username", ""),
            domain=v.get("domain", ""), docs_url=v.get("docs_url", ""),
            app=_scope_app(m, v.get("scope"), v.get("app")))
        return Response(s.CustomApiSerializer(api).data, status=201)


@_sensitive
class CustomApiDetailView(APIView):
    def _get(self, request: Request, workspace_id: str, custom_api_id: str,
             action: str = "view") -> tuple[CustomApi, Membership]:
        return get_workspace_object(request.user, workspace_id,
                                    CustomApi.objects.select_related("app", "created_by"), action,
                                    public_id=custom_api_id)

    @extend_schema(responses=s.CustomApiSerializer)
    def get(self, request: Request, workspace_id: str, custom_api_id: str) -> Response:
        api, _ = self._get(request, workspace_id, custom_api_id)
        return Response(s.CustomApiSerializer(api).data)

    @extend_schema(request=s.CustomApiUpdateSerializer,
                   responses={200: s.CustomApiSerializer, 409: CONFLICT},
                   description="Change name, domain, docs_url or scope. Credentials can't be "
                               "changed: delete and recreate.")
    @_hide_locals
    def patch(self, request: Request, workspace_id: str, custom_api_id: str) -> Response:
        api, m = self._get(request, workspace_id, custom_api_id, "manage_custom_apis")
        data = s.CustomApiUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        kwargs: dict[str, Any] = {k: v[k] for k in ("name", "domain", "docs_url") if k in v}
        if "scope" in v or "app" in v:
            kwargs["app"] = _scope_app(m, v.get("scope"), v.get("app"))
        api = services.update_custom_api(api, actor=request.user, **kwargs)
        return Response(s.CustomApiSerializer(api).data)

    @extend_schema(responses={204: None},
                   description="Delete. Apps using its CUSTOM_API_* variables lose access.")
    def delete(self, request: Request, workspace_id: str, custom_api_id: str) -> Response:
        api, _ = self._get(request, workspace_id, custom_api_id, "manage_custom_apis")
        services.delete_custom_api(api, actor=request.user)
        return Response(status=204)


class SecretAccessView(APIView):
    """Whether the app's backend receives workspace secrets and organization Custom APIs."""

    def _app(self, request: Request, workspace_id: str, app_id: str,
             action: str = "view") -> App:
        app, _ = get_workspace_object(request.user, workspace_id,
                                      App.objects.select_related("workspace"), action,
                                      public_id=app_id)
        return app

    def _state(self, app: App, status: int = 200) -> Response:
        access = services.workspace_access(app)
        return Response(s.SecretAccessSerializer(
            s.SecretAccessSerializer.state(app, access)).data, status=status)

    @extend_schema(responses=s.SecretAccessSerializer,
                   description="Any member: whether the app receives workspace secrets and "
                               "organization Custom APIs, who granted it and when.")
    def get(self, request: Request, workspace_id: str, app_id: str) -> Response:
        return self._state(self._app(request, workspace_id, app_id))

    @extend_schema(request=None, responses={200: s.SecretAccessSerializer,
                                            201: s.SecretAccessSerializer},
                   description="Grant (admins and owners; audited): from its next functions/env "
                               "call the app also receives workspace secrets and organization "
                               "Custom APIs. 201 when granted now, 200 when it already was.")
    def post(self, request: Request, workspace_id: str, app_id: str) -> Response:
        app = self._app(request, workspace_id, app_id, "manage_secrets")
        had = services.has_workspace_access(app)
        services.grant_workspace_access(app, actor=request.user)
        return self._state(app, 200 if had else 201)

    @extend_schema(responses={200: s.SecretAccessSerializer},
                   description="Revoke (admins and owners; audited): from its next call the app "
                               "gets only its own app secrets and app-specific Custom APIs.")
    def delete(self, request: Request, workspace_id: str, app_id: str) -> Response:
        app = self._app(request, workspace_id, app_id, "manage_secrets")
        services.revoke_workspace_access(app, actor=request.user)
        return self._state(app)


# --- SDK --------------------------------------------------------------------------------------


class FunctionsEnvView(SDKViewMixin, APIView):
    @extend_schema(
        operation_id="functions_env",
        summary="Environment variables for the app's backend functions",
        description=(
            "Service role only (an app service token of this app). Returns the variables the "
            "app's backend code receives: workspace secrets (only when the app has access to "
            "them: apps created by admins and owners, or granted by an admin), the app's own "
            "secrets (an app secret overrides a workspace secret of the same name), and for "
            "every Custom API in scope (organization ones under the same grant) "
            "`CUSTOM_API_<NAME>` (the credential; `user:password` for basic auth) and "
            "`CUSTOM_API_<NAME>_AUTH_HEADER` (the header value, e.g. `Bearer <token>`). This is "
            "the only way values leave the vault; every read is audited. App-user tokens get "
            "403, anonymous callers 401, another app's service token 404. If a stored value "
            "can't be decrypted with the server's keys the answer is 500 "
            "`decryption_failed`, naming the secret, and no variables are returned."),
        responses={
            200: s.EnvironmentSerializer,
            401: OpenApiResponse(OpenApiTypes.OBJECT, description="No credentials."),
            403: OpenApiResponse(OpenApiTypes.OBJECT, description="Not a service token."),
            404: OpenApiResponse(OpenApiTypes.OBJECT, description="Another app's token."),
            500: OpenApiResponse(OpenApiTypes.OBJECT,
                                 description="A value can't be decrypted (decryption_failed)."),
        },
        examples=[OpenApiExample("Environment", response_only=True, status_codes=["200"], value={
            "app_id": "5f0c3a9e1b2d4c6e8a0b1c2d",
            "variables": {"STRIPE_API_KEY": "sk_live_…",
                          "CUSTOM_API_MY_BILLING_API": "…",
                          "CUSTOM_API_MY_BILLING_API_AUTH_HEADER": "Bearer …"}})],
    )
    @_hide_locals
    def get(self, request: Request, app_id: str) -> Response:
        app, caller = resolve_app(request, app_id, allow=("service",))
        label = f"service token {caller.service_token.masked}" if caller.service_token else ""
        try:
            env = services.read_environment(app, actor_label=label or "service token")
        except DecryptionFailed as exc:
            return Response({"detail": str(exc), "code": "decryption_failed"}, status=500,
                            headers={"Cache-Control": "no-store"})
        return Response({"app_id": app.public_id, "variables": env},
                        headers={"Cache-Control": "no-store", "Pragma": "no-cache"})
