"""Read-only admin for the vault: metadata only. Values are excluded from every page (and would
show as a mask anyway); changes go through the dashboard or API so they are audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from .models import CustomApi, Secret, SecretVersion


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


class SecretVersionInline(admin.TabularInline):
    model = SecretVersion
    extra = 0
    fields = ["version", "action", "set_by_label", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Secret)
class SecretAdmin(ReadOnlyAdmin):
    list_display = ["name", "workspace", "app", "kind", "version", "updated_by_label",
                    "updated_at"]
    list_filter = ["kind"]
    search_fields = ["name", "workspace__name", "app__name"]
    list_select_related = ["workspace", "app"]
    exclude = ["value"]
    readonly_fields = ["workspace", "app", "name", "kind", "description", "version",
                       "created_by", "created_at", "updated_by", "updated_by_label", "updated_at"]
    inlines = [SecretVersionInline]


@admin.register(CustomApi)
class CustomApiAdmin(ReadOnlyAdmin):
    list_display = ["name", "env_var", "auth_type", "workspace", "app", "domain", "created_at"]
    list_filter = ["auth_type"]
    search_fields = ["name", "env_var", "workspace__name"]
    list_select_related = ["workspace", "app"]
    exclude = ["credential"]
    readonly_fields = ["public_id", "workspace", "app", "name", "env_var", "auth_type", "domain",
                       "docs_url", "created_by", "created_at", "updated_at"]
