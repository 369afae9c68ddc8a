"""Admin API serializers. Values and credentials are write-only everywhere."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import naming
from ..models import CustomApi, Secret, SecretVersion

_WRITE_ONLY = {"write_only": True, "trim_whitespace": False,
               "style": {"input_type": "password"}}


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": naming.SECRET_NAME_MAX,
                     "pattern": r"^(?!__)[A-Z_][A-Z0-9_]*$"})
class SecretNameField(serializers.CharField):
    """A secret name; the schema states naming.validate_secret_name's rule (upper-case letters,
    digits and _, not a digit first, not the reserved __ prefix)."""


class SecretVersionSerializer(serializers.ModelSerializer):
    set_by = serializers.CharField(source="set_by_label", read_only=True)

    class Meta:
        model = SecretVersion
        fields = ["version", "action", "set_by", "created_at"]


class SecretSerializer(serializers.ModelSerializer):
    """A secret's metadata. `value` is accepted on write and never returned."""

    name = SecretNameField(max_length=naming.SECRET_NAME_MAX,
                           validators=[naming.validate_secret_name])
    value = serializers.CharField(max_length=naming.SECRET_VALUE_MAX,
                                  validators=[naming.validate_secret_value], **_WRITE_ONLY)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    scope = serializers.CharField(source="scope_label", read_only=True)
    app = serializers.SerializerMethodField()
    set_by = serializers.CharField(read_only=True)
    set_at = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Secret
        fields = ["name", "value", "description", "scope", "app", "version", "set_by", "set_at",
                  "created_at"]
        read_only_fields = ["version", "created_at"]

    def get_app(self, obj: Secret) -> str | None:
        return obj.app.public_id if obj.app_id else None


class SecretDetailSerializer(SecretSerializer):
    versions = SecretVersionSerializer(many=True, read_only=True)

    class Meta(SecretSerializer.Meta):
        fields = [*SecretSerializer.Meta.fields, "versions"]


class SecretReplaceSerializer(serializers.Serializer):
    value = serializers.CharField(max_length=naming.SECRET_VALUE_MAX,
                                  validators=[naming.validate_secret_value], **_WRITE_ONLY)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)


class CustomApiSerializer(serializers.ModelSerializer):
    """A Custom API. `credential` (and `username` for basic auth) are write-only; on update
    only name, domain, docs_url and scope/app may change."""

    id = serializers.CharField(source="public_id", read_only=True)
    name = serializers.CharField(max_length=100)
    auth_type = serializers.ChoiceField(choices=CustomApi.AuthType.choices)
    credential = serializers.CharField(required=False, allow_blank=True,
                                       max_length=naming.CREDENTIAL_MAX, **_WRITE_ONLY,
                                       help_text="The key or token; for basic auth, the "
                                                 "password.")
    username = serializers.CharField(required=False, allow_blank=True, max_length=200,
                                     **_WRITE_ONLY, help_text="Basic auth only.")
    domain = serializers.CharField(required=False, allow_blank=True, max_length=253)
    docs_url = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    scope = serializers.ChoiceField(choices=["organization", "app"], default="organization")
    app = serializers.CharField(required=False, allow_null=True, allow_blank=True,
                                help_text="The app's id, when scope is 'app'.")
    env_var = serializers.CharField(read_only=True)
    auth_header_var = serializers.CharField(read_only=True)
    created_by = serializers.SerializerMethodField()

    class Meta:
        model = CustomApi
        fields = ["id", "name", "env_var", "auth_header_var", "auth_type", "credential",
                  "username", "domain", "docs_url", "scope", "app", "created_by", "created_at",
                  "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def get_created_by(self, obj: CustomApi) -> str | None:
        return obj.created_by.email if obj.created_by_id else None

    def to_representation(self, instance: CustomApi) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["app"] = instance.app.public_id if instance.app_id else None
        return data

    def validate_domain(self, value: str) -> str:
        return naming.normalize_domain(value)

    def validate_docs_url(self, value: str) -> str:
        return naming.normalize_docs_url(value)


class CustomApiUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    domain = serializers.CharField(required=False, allow_blank=True, max_length=253)
    docs_url = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    scope = serializers.ChoiceField(choices=["organization", "app"], required=False)
    app = serializers.CharField(required=False, allow_null=True, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        forbidden = {"credential", "username", "auth_type"} & set(self.initial_data or {})
        if forbidden:
            raise serializers.ValidationError(
                "Credentials and auth type can't be changed. Delete the Custom API and create "
                "it again (the same name keeps the same variable).")
        return attrs

    def validate_domain(self, value: str) -> str:
        return naming.normalize_domain(value)

    def validate_docs_url(self, value: str) -> str:
        return naming.normalize_docs_url(value)


class EnvironmentSerializer(serializers.Serializer):
    app_id = serializers.CharField()
    variables = serializers.DictField(
        child=serializers.CharField(),
        help_text="Variable name -> value: workspace secrets, the app's secrets (overriding), "
                  "and CUSTOM_API_<NAME> / CUSTOM_API_<NAME>_AUTH_HEADER per Custom API in "
                  "scope.")


class SecretAccessSerializer(serializers.Serializer):
    """Whether an app's backend receives workspace secrets and organization Custom APIs."""

    app = serializers.CharField(help_text="The app's id.")
    granted = serializers.BooleanField()
    granted_by = serializers.CharField(allow_null=True)
    granted_at = serializers.DateTimeField(allow_null=True)
    reason = serializers.ChoiceField(choices=["created_by_admin", "granted", "migration"],
                                     allow_null=True)

    @staticmethod
    def state(app: Any, access: Any) -> dict[str, Any]:
        return {
            "app": app.public_id, "granted": access is not None,
            "granted_by": access.granted_by_name if access else None,
            "granted_at": access.granted_at if access else None,
            "reason": access.reason if access else None,
        }
