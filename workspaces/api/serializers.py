from __future__ import annotations

from rest_framework import serializers

from .. import app_caps
from ..models import (
    App,
    AppServiceToken,
    CreditEntry,
    Invitation,
    Membership,
    PersonalAccessToken,
    Plan,
    Role,
    Workspace,
)
from .strict import NameField, StrictModelSerializer, StrictSerializer


class WorkspaceSerializer(StrictModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    role = serializers.SerializerMethodField()
    balance = serializers.SerializerMethodField()

    class Meta:
        model = Workspace
        fields = ["id", "name", "kind", "plan", "role", "balance", "created_at"]
        read_only_fields = ["kind", "plan", "created_at"]

    def get_role(self, obj: Workspace) -> str | None:
        roles = self.context.get("roles", {})
        return roles.get(obj.pk)

    def get_balance(self, obj: Workspace) -> int:
        account = getattr(obj, "credits", None)
        return account.balance if account else 0


class WorkspaceCreateSerializer(StrictSerializer):
    name = NameField(max_length=100, what="A workspace name")


class WorkspaceUpdateSerializer(StrictSerializer):
    name = NameField(max_length=100, required=False, what="A workspace name")
    plan = serializers.ChoiceField(choices=Plan.choices, required=False)


class MemberSerializer(StrictModelSerializer):
    user_id = serializers.IntegerField(source="user.pk", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "email", "name", "role", "created_at"]


class RoleSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(StrictModelSerializer):
    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "created_at", "accepted_at", "revoked_at"]
        read_only_fields = ["id", "created_at", "accepted_at", "revoked_at"]


class AppSerializer(StrictModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    name = NameField(max_length=App._meta.get_field("name").max_length, what="An app name")
    workspace = serializers.CharField(source="workspace.public_id", read_only=True)
    monthly_credit_cap = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2_147_483_647,
        help_text="Most credits this app's integration calls may spend in a calendar month "
                  "(UTC); null: no cap. Over it calls are refused with 402, reason "
                  "app_credit_cap_reached. Admins and owners only.")
    sandbox_mode = serializers.BooleanField(
        required=False, help_text="Answer this app's integration calls from the spec instead "
                                  "of the upstream (free, nothing sent). Admins and owners only.")
    credits_used_this_month = serializers.SerializerMethodField(
        help_text="Credits this app's calls spent in the current calendar month (UTC).")

    class Meta:
        model = App
        fields = ["id", "workspace", "name", "allow_anonymous_integration_calls",
                  "monthly_credit_cap", "sandbox_mode", "credits_used_this_month", "created_at"]
        read_only_fields = ["created_at"]

    def get_credits_used_this_month(self, obj: App) -> int:
        used = self.context.get("used_this_month")
        if used is None:
            used = app_caps.used_this_month([obj])
        return int(used.get(obj.pk, 0))


class ServiceTokenSerializer(StrictModelSerializer):
    token_hint = serializers.CharField(source="masked", read_only=True)

    class Meta:
        model = AppServiceToken
        fields = ["id", "name", "token_hint", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = ["created_at", "last_used_at", "revoked_at"]


class PersonalTokenSerializer(StrictModelSerializer):
    token_hint = serializers.CharField(source="masked", read_only=True)

    class Meta:
        model = PersonalAccessToken
        fields = ["id", "name", "token_hint", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = ["created_at", "last_used_at", "revoked_at"]


class NewTokenSerializer(StrictSerializer):
    """Returned once, at creation: the only time the raw token is ever shown."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    token = serializers.CharField()


class NameSerializer(StrictSerializer):
    name = NameField(max_length=100, required=False, allow_blank=True, what="A token name")


class PersonalTokenNameSerializer(StrictSerializer):
    """A personal access token needs a name (services.create_personal_token)."""

    name = NameField(max_length=100, what="A token name")


class CreditEntrySerializer(StrictModelSerializer):
    class Meta:
        model = CreditEntry
        fields = ["id", "kind", "amount", "balance_after", "reason", "reference_type",
                  "reference_id", "created_at"]


# --- the SDK API (/api/apps/..., tests/e2e): its wire contract is ../shared/sdk-protocol.md, not
# the admin API's schema; it keeps DRF's lenient parsing (an SDK may send a numeric user id).


class AppUserTokenRequestSerializer(serializers.Serializer):
    app_user_id = serializers.CharField(max_length=200)
    ttl_seconds = serializers.IntegerField(required=False, min_value=60, max_value=2592000)


class AppUserTokenSerializer(serializers.Serializer):
    token = serializers.CharField()
    token_type = serializers.CharField(default="Bearer")
    app_user_id = serializers.CharField()
    expires_at = serializers.DateTimeField()


class RevokeAppUserTokenSerializer(serializers.Serializer):
    token = serializers.CharField()
