"""Admin API of workspace integrations (/api/v1/workspaces/{ws}/integrations/...).

Personal access tokens (or a session). Outsiders get 404; members may read (list, details,
operations, header names); admins and owners import, create, edit, refresh and delete. Only
shared workspaces on the Builder plan or higher (403 ``plan_required`` otherwise)."""

from __future__ import annotations

import json
from typing import IO, Any

from django.core.files.uploadedfile import UploadedFile
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workspaces import plans
from workspaces.access import get_workspace_for
from workspaces.models import Membership

from .. import openapi, services
from ..models import SpecImport, WorkspaceIntegration
from . import serializers as s

MANAGE = "manage_integrations"
TAG = ["integrations"]


def _member(request: Request, workspace_id: str, action: str = "view",
            plan: bool = True) -> Membership:
    m = get_workspace_for(request.user, workspace_id, action)
    if plan:
        plans.require(m.workspace, services.FEATURE)
    return m


def _integration(m: Membership, integration_id: str) -> WorkspaceIntegration:
    return get_object_or_404(
        WorkspaceIntegration.objects.select_related("workspace").prefetch_related("headers"),
        workspace=m.workspace, public_id=integration_id)


def _import(m: Membership, import_id: str) -> SpecImport:
    return get_object_or_404(SpecImport.objects.defer("raw_text"), workspace=m.workspace,
                             public_id=import_id)


def _import_data(spec_import: SpecImport) -> dict[str, Any]:
    ids = {}
    if spec_import.integration_id:
        ids = dict(WorkspaceIntegration.objects.filter(pk=spec_import.integration_id)
                   .values_list("pk", "public_id"))
    return s.IntegrationImportSerializer(spec_import, context={"integration_ids": ids}).data


def _headers(data: list[dict[str, Any]] | None) -> list[services.HeaderInput] | None:
    if data is None:
        return None
    return [services.HeaderInput(h["name"], h.get("value"), sensitive=h.get("sensitive", False))
            for h in data]


def _ctx(m: Membership) -> dict[str, Any]:
    return {"can_manage": m.has_role("admin")}


#: A spec sent inside a JSON envelope (``{"spec": "..."}``) grows when its text is escaped.
MAX_IMPORT_BODY = openapi.MAX_SPEC_BYTES * 3 // 2


class _SpecBodyParser(BaseParser):
    """Reads the request body itself, up to the spec size cap.

    DRF's JSONParser goes through ``request.body``, which Django caps at
    DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB): every real spec over that size (Stripe, OpenAI,
    GitHub) would be refused with a bare "Bad request". Only the import endpoint reads more."""

    limit = MAX_IMPORT_BODY

    def read(self, stream: IO[bytes] | None,
             parser_context: dict[str, Any] | None = None) -> bytes:
        data = stream.read(self.limit + 1) if stream is not None else b""
        if len(data) > self.limit:
            # What was read stops at the cap: say the real size when the client sent it.
            raise services.spec_too_large(_content_length(parser_context))
        return data


def _content_length(parser_context: dict[str, Any] | None) -> int | None:
    request = (parser_context or {}).get("request")
    try:
        size = int(request.META.get("CONTENT_LENGTH") or "")  # type: ignore[union-attr]
    except (AttributeError, TypeError, ValueError):
        return None
    return size if size > openapi.MAX_SPEC_BYTES else None


#: Keys of an import envelope (``{"url": ...}`` / ``{"spec": ...}``).
_ENVELOPE_KEYS = frozenset({"url", "spec"})
#: Top-level keys that make a JSON object a (maybe unsupported) API description.
_SPEC_MARKERS = frozenset({"openapi", "swagger", "swaggerVersion", "asyncapi"})


def _is_envelope(parsed: Any) -> bool:
    return (isinstance(parsed, dict) and bool(_ENVELOPE_KEYS & parsed.keys())
            and not _SPEC_MARKERS & parsed.keys())


class SpecJSONParser(_SpecBodyParser):
    """``{"url": ...}``, ``{"spec": "<JSON or YAML text>" | {...}}``, or the spec itself."""

    media_type = "application/json"

    def parse(self, stream: IO[bytes] | None, media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        data = self.read(stream, parser_context)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ParseError(f"The body is not UTF-8 (invalid byte at offset {exc.start}).")
        try:
            parsed = json.loads(text)
        except RecursionError:
            # Nested too deeply for json.loads: the spec reader answers it (too_deep), with
            # the message every other path gives.
            return {"spec": text}
        except ValueError:
            # Not JSON: read it as the spec itself (YAML sent as JSON, or a broken JSON spec),
            # so that the answer says what is wrong, with line and column.
            return {"spec": text}
        if not _is_envelope(parsed):
            # The body is the spec (or something that is not one: a list, an AsyncAPI or
            # Swagger 1.2 document, a plain object): keep its text as sent, so that the spec
            # reader says what it is, as it does for a paste.
            return {"spec": text}
        return parsed


class SpecTextParser(_SpecBodyParser):
    """The body is the spec, as YAML (or JSON) text."""

    media_type = "text/*"

    def parse(self, stream: IO[bytes] | None, media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        data = self.read(stream, parser_context)
        if len(data) > openapi.MAX_SPEC_BYTES:
            raise services.spec_too_large(len(data))
        return {"spec": services.decode_spec(data)}


class SpecYAMLParser(SpecTextParser):
    media_type = "application/yaml"


class SpecXYAMLParser(SpecTextParser):
    media_type = "application/x-yaml"


def _import_payload(request: Request) -> Any:
    """The request data, with an uploaded spec file (multipart ``spec``) read as text."""
    payload = request.data
    if not payload and not request.META.get("CONTENT_LENGTH", "").strip("0"):
        # An empty body (DRF does not even call the parser): the paste path's "empty" answer.
        return {"spec": ""}
    upload = payload.get("spec") if hasattr(payload, "get") else None
    if not isinstance(upload, UploadedFile):
        return payload
    if upload.size is not None and upload.size > openapi.MAX_SPEC_BYTES:
        raise services.spec_too_large(upload.size)
    out: dict[str, Any] = {"spec": services.decode_spec(upload.read())}
    if payload.get("url"):
        out["url"] = payload.get("url")
    return out


class IntegrationImportCreateView(APIView):
    parser_classes = [SpecJSONParser, SpecYAMLParser, SpecXYAMLParser, SpecTextParser,
                      MultiPartParser]

    @extend_schema(tags=TAG, request={
        "application/json": s.IntegrationImportCreateSerializer,
        "application/yaml": OpenApiTypes.STR,
        "multipart/form-data": s.IntegrationImportUploadSerializer,
    }, responses={202: s.IntegrationImportSerializer},
        summary="Import a spec (URL or JSON/YAML); poll the import until ready",
        description=(
            "Send `{\"url\": ...}` (fetched by a task), `{\"spec\": ...}` (JSON or YAML text, "
            "or the JSON object), the spec itself as the body (JSON, or YAML with "
            "`Content-Type: application/yaml`), or a file upload (`multipart/form-data`, field "
            "`spec`). Specs up to 25 MiB."))
    def post(self, request: Request, workspace_id: str) -> Response:
        m = _member(request, workspace_id, MANAGE)
        data = s.IntegrationImportCreateSerializer(data=_import_payload(request))
        data.is_valid(raise_exception=True)
        if "url" in data.validated_data:
            spec_import = services.start_url_import(m.workspace, actor=request.user,
                                                    url=data.validated_data["url"])
        else:
            spec = data.validated_data["spec"]
            text = spec if isinstance(spec, str) else json.dumps(spec, ensure_ascii=False)
            spec_import = services.import_pasted(m.workspace, actor=request.user, text=text)
        return Response(_import_data(spec_import), status=status.HTTP_202_ACCEPTED)


class IntegrationImportDetailView(APIView):
    @extend_schema(tags=TAG, responses=s.IntegrationImportSerializer,
                   summary="Status of an import (with validator warnings, or the diff)")
    def get(self, request: Request, workspace_id: str, import_id: str) -> Response:
        m = _member(request, workspace_id, MANAGE)
        return Response(_import_data(_import(m, import_id)))


class IntegrationImportOperationsView(APIView):
    @extend_schema(tags=TAG, responses=s.IntegrationOperationSerializer(many=True),
                   parameters=[OpenApiParameter("search", str, description=(
                       "Only operations whose method, path, operationId, summary or tag "
                       "contain every word"))],
                   summary="Every operation of an imported spec")
    def get(self, request: Request, workspace_id: str, import_id: str) -> Response:
        m = _member(request, workspace_id, MANAGE)
        spec_import = _import(m, import_id)
        operations = services.operations_of(spec_import)
        terms = (request.query_params.get("search") or "").lower().split()
        if terms:
            operations = [op for op in operations
                          if all(t in services.operation_search_text(op) for t in terms)]
        return Response(s.IntegrationOperationSerializer(operations, many=True).data)


class IntegrationListView(APIView):
    @extend_schema(tags=TAG, responses=s.WorkspaceIntegrationSerializer(many=True))
    def get(self, request: Request, workspace_id: str) -> Response:
        m = _member(request, workspace_id)
        qs = (WorkspaceIntegration.objects.filter(workspace=m.workspace)
              .prefetch_related("headers").order_by("name"))
        return Response(s.WorkspaceIntegrationSerializer(qs, many=True, context=_ctx(m)).data)

    @extend_schema(tags=TAG, request=s.WorkspaceIntegrationCreateSerializer,
                   responses={201: s.WorkspaceIntegrationDetailSerializer},
                   summary="Create an integration from a ready import")
    def post(self, request: Request, workspace_id: str) -> Response:
        m = _member(request, workspace_id, MANAGE)
        data = s.WorkspaceIntegrationCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        spec_import = get_object_or_404(SpecImport.objects.defer("raw_text"),
                                        workspace=m.workspace, public_id=v["import_id"])
        integration = services.create_integration(
            m.workspace, actor=request.user, spec_import=spec_import, slug=v["slug"],
            name=v["name"], description=v.get("description", ""),
            base_url=v.get("base_url", ""),
            operation_keys=v["operations"], headers=_headers(v.get("headers")) or [])
        integration = _integration(m, integration.public_id)
        return Response(s.WorkspaceIntegrationDetailSerializer(integration, context=_ctx(m)).data,
                        status=status.HTTP_201_CREATED)


class IntegrationDetailView(APIView):
    @extend_schema(tags=TAG, responses=s.WorkspaceIntegrationDetailSerializer)
    def get(self, request: Request, workspace_id: str, integration_id: str) -> Response:
        m = _member(request, workspace_id)
        integration = _integration(m, integration_id)
        return Response(s.WorkspaceIntegrationDetailSerializer(integration,
                                                               context=_ctx(m)).data)

    @extend_schema(tags=TAG, request=s.WorkspaceIntegrationUpdateSerializer,
                   responses=s.WorkspaceIntegrationDetailSerializer,
                   summary="Edit on the stored spec: details, selection, headers")
    def patch(self, request: Request, workspace_id: str, integration_id: str) -> Response:
        m = _member(request, workspace_id, MANAGE)
        integration = _integration(m, integration_id)
        data = s.WorkspaceIntegrationUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = dict(data.validated_data)
        kwargs: dict[str, Any] = {k: v[k] for k in ("slug", "name", "description", "base_url")
                                  if k in v}
        services.update_integration(integration, actor=request.user,
                                    operation_keys=v.get("operations"),
                                    headers=_headers(v.get("headers")), **kwargs)
        integration = _integration(m, integration_id)
        return Response(s.WorkspaceIntegrationDetailSerializer(integration,
                                                               context=_ctx(m)).data)

    @extend_schema(tags=TAG, responses={204: None},
                   summary="Delete (apps that still call it will get errors)")
    def delete(self, request: Request, workspace_id: str, integration_id: str) -> Response:
        # No plan check: a workspace that left the Builder plan can still clean up.
        m = _member(request, workspace_id, MANAGE, plan=False)
        services.delete_integration(_integration(m, integration_id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class IntegrationHeadersView(APIView):
    @extend_schema(tags=TAG, responses=s.IntegrationHeaderSerializer(many=True))
    def get(self, request: Request, workspace_id: str, integration_id: str) -> Response:
        m = _member(request, workspace_id)
        return Response(s.header_data(_integration(m, integration_id), **_ctx(m)))

    @extend_schema(tags=TAG, request=s.IntegrationHeadersSerializer,
                   responses=s.IntegrationHeaderSerializer(many=True),
                   summary="Replace the headers (values write-only; omit one to keep it)")
    def put(self, request: Request, workspace_id: str, integration_id: str) -> Response:
        m = _member(request, workspace_id, MANAGE)
        integration = _integration(m, integration_id)
        data = s.IntegrationHeadersSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.set_headers(integration, actor=request.user,
                             headers=_headers(data.validated_data["headers"]) or [])
        return Response(s.header_data(_integration(m, integration_id), **_ctx(m)))


class IntegrationOperationsView(APIView):
    @extend_schema(tags=TAG, responses=s.IntegrationSelectedOperationSerializer(many=True),
                   summary="The exposed operations, with an SDK snippet each")
    def get(self, request: Request, workspace_id: str, integration_id: str) -> Response:
        m = _member(request, workspace_id)
        integration = _integration(m, integration_id)
        rows = services.operation_views(integration)
        return Response(s.IntegrationSelectedOperationSerializer(rows, many=True).data)


class IntegrationRefreshView(APIView):
    @extend_schema(tags=TAG, request=None, responses={202: s.IntegrationImportSerializer},
                   summary="Fetch the spec URL again; the import's diff shows what changed")
    def post(self, request: Request, workspace_id: str, integration_id: str) -> Response:
        m = _member(request, workspace_id, MANAGE)
        spec_import = services.start_refresh(_integration(m, integration_id),
                                             actor=request.user)
        return Response(_import_data(spec_import), status=status.HTTP_202_ACCEPTED)


class IntegrationApplyRefreshView(APIView):
    @extend_schema(tags=TAG, request=s.IntegrationApplyRefreshSerializer,
                   responses=s.IntegrationApplyRefreshResultSerializer,
                   summary="Switch the integration to a ready refresh import")
    def post(self, request: Request, workspace_id: str, integration_id: str) -> Response:
        m = _member(request, workspace_id, MANAGE)
        integration = _integration(m, integration_id)
        data = s.IntegrationApplyRefreshSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        spec_import = _import(m, data.validated_data["import_id"])
        _updated, dropped = services.apply_refresh(
            integration, spec_import, actor=request.user,
            operation_keys=data.validated_data.get("operations"))
        integration = _integration(m, integration_id)
        return Response({
            "integration": s.WorkspaceIntegrationSerializer(integration, context=_ctx(m)).data,
            "dropped": dropped})
