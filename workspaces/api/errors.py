"""Every /api/ error is JSON: {"detail": "...", "code": "..."} (+ "errors" for field problems)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..plans import PlanRequired
from ..services import ServiceError


def _flatten(errors: Any, prefix: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = key if key != "non_field_errors" else ""
            out += _flatten(value, f"{prefix}{name}: " if name else prefix)
    elif isinstance(errors, list):
        for item in errors:
            out += _flatten(item, prefix)
    else:
        out.append(f"{prefix}{errors}")
    return out


#: Refusals because the request conflicts with what exists (a name or slug already taken): 409,
#: so a client can tell "change your input" (400) from "this exists already" (409). Operations
#: that can answer it declare it (workspaces.api.schema.CONFLICT).
CONFLICT_CODES = frozenset({"duplicate", "duplicate_slug"})


def service_error_status(exc: ServiceError) -> int:
    """The HTTP status of a service refusal: 409 for a conflict, 403 for "forbidden", else the
    error's own status (connectors.services.ConnectorError carries one) or 400."""
    if exc.code in CONFLICT_CODES:
        return status.HTTP_409_CONFLICT
    if exc.code == "forbidden":
        return status.HTTP_403_FORBIDDEN
    return getattr(exc, "status", None) or status.HTTP_400_BAD_REQUEST


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ServiceError):
        code = exc.code
        http = service_error_status(exc)
        body: dict[str, Any] = {"detail": exc.message, "code": code}
        if exc.field:
            body["errors"] = {exc.field: [exc.message]}
        return Response(body, status=http)
    if isinstance(exc, PlanRequired):
        return Response({"detail": exc.message, "code": "plan_required"}, status=403)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        messages = _flatten(data)
        response.data = {"detail": "; ".join(messages) or "Invalid input.", "code": "invalid",
                         "errors": data if isinstance(data, dict) else {"non_field_errors": data}}
    elif isinstance(data, dict) and "detail" in data:
        detail = data["detail"]
        response.data = {"detail": str(detail),
                         "code": getattr(detail, "code", None) or exc.default_code}
        for key, value in data.items():
            if key != "detail":
                response.data[key] = value
    return response


def json_404(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)


def json_500(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"detail": "Server error. It has been logged.", "code": "server_error"},
                        status=500)


def json_403(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"detail": "Permission denied.", "code": "permission_denied"}, status=403)


def json_400(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse({"detail": "Bad request.", "code": "bad_request"}, status=400)
