from django.conf import settings
from django.contrib import admin
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import include, path, re_path
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from workspaces.api import errors


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"ok": True})


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/") or request.path == "/api"


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return errors.json_404(request, exception)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return errors.json_500(request)
    return defaults.server_error(request)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return errors.json_403(request, exception)
    return defaults.permission_denied(request, exception)


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return errors.json_400(request, exception)
    # A page of ours (Django's default is a bare "Bad Request"), saying what to do instead when
    # a form was larger than DATA_UPLOAD_MAX_MEMORY_SIZE (e.g. a huge spec pasted without
    # JavaScript, which otherwise sends it as a file).
    too_big = isinstance(exception, RequestDataTooBig)
    return render(request, "400.html", {"too_big": too_big,
                                        "limit": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}, status=400)


urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its setup script as a file (?script): no inline script (CSP).
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"),
         name="api-docs"),
    path("api/", include("config.api_router")),
    # csrf_exempt: an unknown /api/ path answers the JSON 404 for every method (a POST without a
    # CSRF cookie got Django's HTML 403 page instead)
    re_path(r"^api(/.*)?$", csrf_exempt(lambda r, *a: errors.json_404(r))),
    path("", include("catalog.urls")),
    path("", include("secrets_vault.urls")),
    path("", include("integrations.urls")),
    path("", include("integrations.calls_urls")),
    path("", include("connectors.urls")),
    path("", include("workspaces.urls")),
]
