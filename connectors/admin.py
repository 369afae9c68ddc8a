from __future__ import annotations

from django.contrib import admin

from .models import Connection, TokenHandoff, WorkspaceConnector


@admin.register(WorkspaceConnector)
class WorkspaceConnectorAdmin(admin.ModelAdmin):
    list_display = ["name", "public_id", "workspace", "provider_type", "created_at"]
    list_select_related = ["workspace"]
    search_fields = ["name", "public_id"]
    readonly_fields = ["public_id", "secret_rotated_at"]


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["kind", "app", "integration_type", "connector", "app_user", "status",
                    "expires_at", "last_refresh_at", "last_handoff_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["app", "connector", "app_user__app"]
    readonly_fields = ["last_refresh_at", "last_handoff_at", "refresh_failures", "last_error"]


@admin.register(TokenHandoff)
class TokenHandoffAdmin(admin.ModelAdmin):
    list_display = ["created_at", "app", "connector_label", "kind", "caller_kind"]
    list_filter = ["kind", "caller_kind"]
    list_select_related = ["app"]
