"""Django admin for integrations: read-only views for support; deletes and checks go through
the services (header secrets leave the vault, the audit log records it). Header values are never
shown here, and spec texts are not loaded on list pages."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .models import CallLog, IntegrationHeader, SpecImport, WorkspaceIntegration


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class HeaderInline(ReadOnlyMixin, admin.TabularInline):
    model = IntegrationHeader
    fields = ["name", "sensitive", "secret_name", "origin", "position"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(WorkspaceIntegration)
class WorkspaceIntegrationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "workspace", "base_url", "operation_count", "last_used_at",
                    "config_version", "has_notice"]
    list_select_related = ["workspace"]
    search_fields = ["name", "slug", "workspace__name", "base_url"]
    exclude = ["operations_doc"]
    inlines = [HeaderInline]
    actions = ["check_spec_now"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WorkspaceIntegration]:
        return super().get_queryset(request).defer("operations_doc")

    @admin.display(description="operations")
    def operation_count(self, obj: WorkspaceIntegration) -> int:
        return len(obj.selected_keys)

    @admin.display(boolean=True, description="notice")
    def has_notice(self, obj: WorkspaceIntegration) -> bool:
        return bool(obj.notice)

    @admin.action(description="Check the spec URL now")
    def check_spec_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        from .tasks import check_integration_spec

        ids = list(queryset.filter(pk__in=services.integrations_to_check())
                   .values_list("pk", flat=True))
        for pk in ids:
            check_integration_spec.delay(pk)
        self.message_user(request, f"Queued {len(ids)} spec check(s).", messages.SUCCESS)

    def delete_model(self, request: HttpRequest, obj: WorkspaceIntegration) -> None:
        services.delete_integration(obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            services.delete_integration(obj, actor=request.user)


@admin.register(SpecImport)
class SpecImportAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["public_id", "title", "workspace", "purpose", "source", "status",
                    "size_bytes", "created_at"]
    list_filter = ["status", "purpose", "source"]
    search_fields = ["public_id", "title", "source_url", "workspace__name"]
    list_select_related = ["workspace"]
    exclude = ["raw_text", "operations"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request: HttpRequest) -> QuerySet[SpecImport]:
        return super().get_queryset(request).defer("raw_text", "operations")


@admin.register(CallLog)
class CallLogAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "workspace", "app", "integration_slug", "operation",
                    "phase", "response_status", "latency_ms"]
    list_filter = ["phase"]
    search_fields = ["request_id", "integration_slug", "operation"]
    list_select_related = ["workspace", "app"]
