from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import (
    App,
    AppServiceToken,
    AppUser,
    CreditAccount,
    CreditEntry,
    EmailMessage,
    Invitation,
    Membership,
    PersonalAccessToken,
    User,
    Workspace,
)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "name"]
    fieldsets = (
        (None, {"fields": ("email", "password", "name")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups",
                                    "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "public_id", "kind", "plan", "created_at"]
    list_filter = ["kind", "plan"]
    search_fields = ["name", "public_id"]
    inlines = [MembershipInline]


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    list_display = ["name", "public_id", "workspace", "allow_anonymous_integration_calls"]
    search_fields = ["name", "public_id"]
    exclude = ["jwt_salt"]


class TokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]
    exclude = ["digest"]


admin.site.register(PersonalAccessToken, TokenAdmin)
admin.site.register(AppServiceToken, TokenAdmin)


@admin.register(CreditEntry)
class CreditEntryAdmin(admin.ModelAdmin):
    list_display = ["workspace", "kind", "amount", "balance_after", "reason", "created_at"]
    list_filter = ["kind"]
    readonly_fields = [f.name for f in CreditEntry._meta.fields]

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # append-only

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


admin.site.register(CreditAccount)
admin.site.register(Invitation)
admin.site.register(AppUser)
admin.site.register(EmailMessage, list_display=["to", "subject", "created_at", "sent_at"],
                    exclude=["body", "html_body"])
