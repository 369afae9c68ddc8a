from __future__ import annotations

from django.contrib import admin

from .models import (
    CatalogIntegration,
    Installation,
    IntegrationRevision,
    Notification,
    ReviewTransition,
)


class RevisionInline(admin.TabularInline):
    model = IntegrationRevision
    extra = 0
    can_delete = False
    fields = ["number", "status", "submitted_by", "submitted_at", "decided_by", "decided_at"]
    readonly_fields = fields
    show_change_link = True


class TransitionInline(admin.TabularInline):
    model = ReviewTransition
    extra = 0
    can_delete = False
    fields = ["created_at", "action", "from_state", "to_state", "actor", "comment"]
    readonly_fields = fields


@admin.register(CatalogIntegration)
class CatalogIntegrationAdmin(admin.ModelAdmin):
    """Read-mostly: review decisions are made on the review pages (which award credits and
    notify), never by editing rows here."""

    list_display = ["name", "slug", "workspace", "visibility", "state", "live_revision",
                    "first_approved_at"]
    list_filter = ["visibility", "state", "category"]
    search_fields = ["name", "slug", "public_id", "workspace__name"]
    readonly_fields = ["public_id", "workspace", "created_by", "updated_by", "state",
                       "live_revision", "pending_revision", "first_approved_at", "award_entry",
                       "created_at", "updated_at"]
    inlines = [RevisionInline, TransitionInline]


@admin.register(IntegrationRevision)
class IntegrationRevisionAdmin(admin.ModelAdmin):
    list_display = ["name", "number", "integration", "status", "submitted_at", "decided_at"]
    list_filter = ["status", "category"]
    search_fields = ["name", "slug", "integration__public_id"]
    readonly_fields = [f.name for f in IntegrationRevision._meta.fields]

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False


@admin.register(Installation)
class InstallationAdmin(admin.ModelAdmin):
    list_display = ["integration", "app", "installed_by", "installed_at"]
    search_fields = ["integration__name", "app__name", "app__public_id"]
    raw_id_fields = ["app", "integration", "installed_by"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["subject", "recipient", "kind", "created_at", "read_at"]
    list_filter = ["kind"]
    search_fields = ["subject", "recipient__email"]
    raw_id_fields = ["recipient", "integration", "revision", "email"]
