"""Admin API serializers. Values and credentials are write-only everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from workspaces.api.strict import (
    HEADER_FORBIDDEN,
    NameField,
    StatedRule,
    StrictModelSerializer,
    StrictSerializer,
    none_of,
)

from .. import naming
from ..models import CustomApi, Secret, SecretVersion

_WRITE_ONLY = {"write_only": True, "trim_whitespace": False,
               "style": {"input_type": "password"}}


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": naming.SECRET_NAME_MAX,
                     "pattern": r"^(?!__)[A-Z_][A-Z0-9_]*$"})
class SecretNameField(serializers.CharField):
    """A secret name; the schema states naming.validate_secret_name's rule (upper-case letters,
    digits and _, not a digit first, not the reserved __ prefix)."""


class SecretVersionSerializer(StrictModelSerializer):
    set_by = serializers.CharField(source="set_by_label", read_only=True)

    class Meta:
        model = SecretVersion
        fields = ["version", "action", "set_by", "created_at"]


class SecretSerializer(StrictModelSerializer):
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


class SecretReplaceSerializer(StrictSerializer):
    value = serializers.CharField(max_length=naming.SECRET_VALUE_MAX,
                                  validators=[naming.validate_secret_value], **_WRITE_ONLY)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)


class CustomApiSerializer(StrictModelSerializer):
    """A Custom API. `credential` (and `username` for basic auth) are write-only; on update
    only name, domain, docs_url and scope/app may change."""

    id = serializers.CharField(source="public_id", read_only=True)
    name = NameField(max_length=100, what="A Custom API name")
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


# What a Custom API's credential must be depends on its auth_type: one request schema per auth type
# (a oneOf with auth_type as discriminator, CUSTOM_API_CREATE), and the view validates with the
# one the request's auth_type picks. The rules are services._credential_for's, with its messages,
# stated as patterns (StatedRule).
_ENTER_KEY = "Enter the credentials (the key or token)."
_ENTER_USER = "Enter the user name for basic auth."


def _key_or_token(value: str) -> None:
    if not value.strip():
        raise ValidationError(_ENTER_KEY, code="required")
    naming.validate_credential(value.strip())


def _basic_username(value: str) -> None:
    naming.validate_basic_username(value.strip())


def _password(value: str) -> None:
    naming.validate_credential(value, "The password")


class _KeyOrTokenCustomApiSerializer(CustomApiSerializer):
    credential = serializers.CharField(
        max_length=naming.CREDENTIAL_MAX, **_WRITE_ONLY,
        error_messages={"required": _ENTER_KEY, "blank": _ENTER_KEY},
        validators=[StatedRule(none_of(HEADER_FORBIDDEN, blank=False), _key_or_token)],
        help_text="The key or token (surrounding spaces are dropped).")

    class Meta(CustomApiSerializer.Meta):
        fields = [f for f in CustomApiSerializer.Meta.fields if f != "username"]


class CustomApiKeySerializer(_KeyOrTokenCustomApiSerializer):
    """An API key, sent as X-API-Key."""

    auth_type = serializers.ChoiceField(choices=[CustomApi.AuthType.API_KEY.value])


class CustomApiBearerSerializer(_KeyOrTokenCustomApiSerializer):
    """A bearer token, sent as Authorization: Bearer."""

    auth_type = serializers.ChoiceField(choices=[CustomApi.AuthType.BEARER.value])


class CustomApiBasicSerializer(CustomApiSerializer):
    """Basic auth: a user name (required, no ':') and a password (may be empty)."""

    auth_type = serializers.ChoiceField(choices=[CustomApi.AuthType.BASIC.value])
    username = serializers.CharField(
        max_length=200, **_WRITE_ONLY,
        error_messages={"required": _ENTER_USER, "blank": _ENTER_USER},
        validators=[StatedRule(none_of(HEADER_FORBIDDEN + ":", blank=False), _basic_username)])
    credential = serializers.CharField(
        required=False, allow_blank=True, max_length=naming.CREDENTIAL_MAX, **_WRITE_ONLY,
        validators=[StatedRule(none_of(HEADER_FORBIDDEN), _password)],
        help_text="The password, kept exactly as typed; may be empty.")


CUSTOM_API_TYPES: dict[str, type[CustomApiSerializer]] = {
    CustomApi.AuthType.API_KEY.value: CustomApiKeySerializer,
    CustomApi.AuthType.BEARER.value: CustomApiBearerSerializer,
    CustomApi.AuthType.BASIC.value: CustomApiBasicSerializer,
}
CUSTOM_API_CREATE = PolymorphicProxySerializer(
    component_name="CustomApiCreate", serializers=CUSTOM_API_TYPES,
    resource_type_field_name="auth_type")


def custom_api_create(data: Any) -> CustomApiSerializer:
    """The create serializer for the request's auth_type (the plain one, whose auth_type choice
    refuses it, when it names none)."""
    auth_type = data.get("auth_type") if isinstance(data, Mapping) else None
    cls = CUSTOM_API_TYPES.get(auth_type, CustomApiSerializer) if isinstance(auth_type, str) \
        else CustomApiSerializer
    return cls(data=data)


class CustomApiUpdateSerializer(StrictSerializer):
    name = NameField(max_length=100, required=False, what="A Custom API name")
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


class EnvironmentSerializer(StrictSerializer):
    app_id = serializers.CharField()
    variables = serializers.DictField(
        child=serializers.CharField(),
        help_text="Variable name -> value: workspace secrets, the app's secrets (overriding), "
                  "and CUSTOM_API_<NAME> / CUSTOM_API_<NAME>_AUTH_HEADER per Custom API in "
                  "scope.")


class SecretAccessSerializer(StrictSerializer):
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
