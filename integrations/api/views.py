"""Admin API of workspace integrations (/api/v1/workspaces/{ws}/integrations/...).

Personal access tokens (or a session). Outsiders get 404; members may read (list, details,
operations, header names); admins and owners import, create, edit, refresh and delete. Only
shared workspaces on the Builder plan or higher (403 ``plan_required`` otherwise)."""

from __future__ import annotations

import json
from dataclasses import dataclass
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
from workspaces.api.schema import CONFLICT
from workspaces.models import Membership, new_public_id

from .. import openapi, services, uploads
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
MAX_IMPORT_BODY = services.MAX_JSON_BODY
#: A JSON body up to this size is read back to find its envelope (``{"url": ...}``); a bigger
#: one is handed to the worker as it is, which unwraps it (``services.unwrap_json_body``).
ENVELOPE_PEEK_BYTES = 256 * 1024


@dataclass
class StoredBody:
    """A request body the parser streamed to the storage (``integrations.uploads``), unread."""

    public_id: str
    kind: str
    size: int


class _SpecBodyParser(BaseParser):
    """Streams the request body to the storage in chunks, capped while streaming (the
    Content-Length checked first); the web process never holds a big spec in memory and never
    parses one (the import task does).

    DRF's JSONParser goes through ``request.body``, which Django caps at
    DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) and holds in memory: every real spec over that size
    (Stripe, OpenAI, GitHub) would be refused with a bare "Bad request"."""

    #: The cap of any body; ``max_bytes``: of this kind of body (the smaller one applies).
    limit = MAX_IMPORT_BODY
    max_bytes = openapi.MAX_SPEC_BYTES
    kind = uploads.SPEC

    def store(self, stream: IO[bytes] | None,
              parser_context: dict[str, Any] | None = None) -> StoredBody:
        public_id = new_public_id()
        try:
            size = uploads.store_stream(public_id, stream,
                                        limit=min(self.limit, self.max_bytes),
                                        content_length=_content_length(parser_context),
                                        kind=self.kind)
        except uploads.TooLarge as exc:
            # The real size when the client sent it, else "over 25 MiB" (never the bytes
            # read up to the cap).
            size = exc.size if exc.size is not None and exc.size > openapi.MAX_SPEC_BYTES \
                else None
            raise services.spec_too_large(size) from None
        return StoredBody(public_id, self.kind, size)


def _content_length(parser_context: dict[str, Any] | None) -> int | None:
    request = (parser_context or {}).get("request")
    try:
        size = int(request.META.get("CONTENT_LENGTH") or "")  # type: ignore[union-attr]
    except (AttributeError, TypeError, ValueError):
        return None
    return size if size >= 0 else None


class SpecJSONParser(_SpecBodyParser):
    """``{"url": ...}``, ``{"spec": "<JSON or YAML text>" | {...}}``, or the spec itself."""

    media_type = "application/json"
    max_bytes = MAX_IMPORT_BODY
    kind = uploads.JSON_BODY

    def parse(self, stream: IO[bytes] | None, media_type: str | None = None,
              parser_context: dict[str, Any] | None = None) -> Any:
        stored = self.store(stream, parser_context)
        if stored.size > ENVELOPE_PEEK_BYTES:
            return stored  # the worker finds out whether it is an envelope
        name = uploads.name_for(stored.public_id, stored.kind)
        data = uploads.read_bytes(name, ENVELOPE_PEEK_BYTES)
        uploads.delete(stored.public_id)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ParseError(f"The body is not UTF-8 (invalid byte at offset {exc.start}).")
        try:
            parsed = json.loads(text)
        except (RecursionError, ValueError):
            # Nested too deeply for json.loads, or not JSON (YAML sent as JSON, a broken JSON
            # spec): read it as the spec itself, so that the answer says what is wrong.
            return {"spec": text}
        if not services.is_import_envelope(parsed):
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
        return self.store(stream, parser_context)


class SpecYAMLParser(SpecTextParser):
    media_type = "application/yaml"


class SpecXYAMLParser(SpecTextParser):
    media_type = "application/x-yaml"


class SpecMultiPartParser(MultiPartParser):
    """A file upload (field ``spec``), through ``uploads.SpecUploadHandler`` (installed by the
    view before the body is read): to a temporary file from the first byte, capped."""


def _import_payload(request: Request) -> Any:
    """The request data: a dict (an envelope; an uploaded ``spec`` file stored) or a
    ``StoredBody``."""
    payload = request.data
    if isinstance(payload, StoredBody):
        return payload
    handler = getattr(request._request, "spec_upload_handler", None)
    if handler is not None and handler.too_large:
        size = handler.request_size
        raise services.spec_too_large(size if size and size > openapi.MAX_SPEC_BYTES else None)
    if not payload and not request.META.get("CONTENT_LENGTH", "").strip("0"):
        # An empty body (DRF does not even call the parser): the paste path's "empty" answer.
        return {"spec": ""}
    upload = payload.get("spec") if hasattr(payload, "get") else None
    if not isinstance(upload, UploadedFile):
        return payload
    if payload.get("url"):
        return {"spec": "", "url": payload.get("url")}  # refused: "Send either url or spec."
    public_id = new_public_id()
    uploads.save(public_id, upload)  # a temporary file: moved into the storage, not copied
    return StoredBody(public_id, uploads.SPEC, upload.size or 0)


class IntegrationImportCreateView(APIView):
    parser_classes = [SpecJSONParser, SpecYAMLParser, SpecXYAMLParser, SpecTextParser,
                      SpecMultiPartParser]

    def initialize_request(self, request: Any, *args: Any, **kwargs: Any) -> Request:
        if request.method == "POST":  # before anything reads the body
            request.spec_upload_handler = uploads.install_handler(request)
        return super().initialize_request(request, *args, **kwargs)

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
            "`spec`). Specs up to 25 MiB. The body is stored as it is and read by a worker: "
            "poll the import until `status` is `ready` (the operation list is there as soon "
            "as the spec is parsed, while `stage` is `validating`) or `failed` (`error` says "
            "why)."))
    def post(self, request: Request, workspace_id: str) -> Response:
        m = _member(request, workspace_id, MANAGE)
        payload = _import_payload(request)
        if isinstance(payload, StoredBody):
            spec_import = services.import_stored(m.workspace, actor=request.user,
                                                 public_id=payload.public_id,
                                                 kind=payload.kind)
            return Response(_import_data(spec_import), status=status.HTTP_202_ACCEPTED)
        data = s.IntegrationImportCreateSerializer(data=payload)
        data.is_valid(raise_exception=True)
        if "url" in data.validated_data:
            spec_import = services.start_url_import(m.workspace, actor=request.user,
                                                    url=data.validated_data["url"])
        else:
            spec = data.validated_data["spec"]
            text = spec if isinstance(spec, str) else json.dumps(spec, ensure_ascii=False)
            public_id = new_public_id()
            uploads.save_text(public_id, text)
            del text, spec
            spec_import = services.import_stored(m.workspace, actor=request.user,
                                                 public_id=public_id)
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
                   responses={201: s.WorkspaceIntegrationDetailSerializer, 409: CONFLICT},
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
                   responses={200: s.WorkspaceIntegrationDetailSerializer, 409: CONFLICT},
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
