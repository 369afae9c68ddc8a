from __future__ import annotations

from rest_framework import serializers

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


class StrictCharField(serializers.CharField):
    """A CharField that refuses numbers and booleans (DRF's turns 0 into "0"): the schema says
    string, so a JSON number is an error."""

    def to_internal_value(self, data):  # type: ignore[no-untyped-def]
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class WorkspaceSerializer(serializers.ModelSerializer):
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


class WorkspaceCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100)


class WorkspaceUpdateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, required=False)
    plan = serializers.ChoiceField(choices=Plan.choices, required=False)


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(source="user.pk", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["user_id", "email", "name", "role", "created_at"]


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "created_at", "accepted_at", "revoked_at"]
        read_only_fields = ["id", "created_at", "accepted_at", "revoked_at"]


class AppSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id", read_only=True)
    name = StrictCharField(max_length=App._meta.get_field("name").max_length)
    workspace = serializers.CharField(source="workspace.public_id", read_only=True)

    class Meta:
        model = App
        fields = ["id", "workspace", "name", "allow_anonymous_integration_calls", "created_at"]
        read_only_fields = ["created_at"]


class ServiceTokenSerializer(serializers.ModelSerializer):
    token_hint = serializers.CharField(source="masked", read_only=True)

    class Meta:
        model = AppServiceToken
        fields = ["id", "name", "token_hint", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = ["created_at", "last_used_at", "revoked_at"]


class PersonalTokenSerializer(serializers.ModelSerializer):
    token_hint = serializers.CharField(source="masked", read_only=True)

    class Meta:
        model = PersonalAccessToken
        fields = ["id", "name", "token_hint", "created_at", "last_used_at", "revoked_at"]
        read_only_fields = ["created_at", "last_used_at", "revoked_at"]


class NewTokenSerializer(serializers.Serializer):
    """Returned once, at creation: the only time the raw token is ever shown."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    token = serializers.CharField()


class NameSerializer(serializers.Serializer):
    name = StrictCharField(max_length=100, required=False, allow_blank=True)


class PersonalTokenNameSerializer(serializers.Serializer):
    """A personal access token needs a name (services.create_personal_token)."""

    name = StrictCharField(max_length=100)


class CreditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = CreditEntry
        fields = ["id", "kind", "amount", "balance_after", "reason", "reference_type",
                  "reference_id", "created_at"]


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
