from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from secrets_vault.naming import SECRET_VALUE_MAX
from workspaces.api.strict import NameField, StrictModelSerializer, StrictSerializer

from .. import providers
from ..models import Connection, WorkspaceConnector

_SECRET_TOO_LONG = {"max_length": f"Client secrets are limited to {SECRET_VALUE_MAX} characters "
                                  "(the vault's limit)."}


class WorkspaceConnectorSerializer(StrictModelSerializer):
    """The client secret is write-only; responses only say whether one is set."""

    id = serializers.CharField(source="public_id", read_only=True)
    name = NameField(max_length=WorkspaceConnector._meta.get_field("name").max_length,
                     what="A connector name")
    client_secret = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                          max_length=SECRET_VALUE_MAX,
                                          error_messages=_SECRET_TOO_LONG,
                                          style={"input_type": "password"})
    has_client_secret = serializers.SerializerMethodField()
    provider_type = serializers.ChoiceField(
        choices=[""] + sorted(providers.all_providers()), required=False, allow_blank=True,
        error_messages={"invalid_choice": "Unknown provider type '{input}'."},
        help_text="A platform provider whose endpoints to use, or blank for custom URLs.")

    class Meta:
        model = WorkspaceConnector
        fields = ["id", "name", "provider_type", "authorize_url", "token_url", "revocation_url",
                  "client_id", "client_secret", "has_client_secret", "scopes", "pkce",
                  "token_auth", "secret_rotated_at", "created_at", "updated_at"]
        read_only_fields = ["secret_rotated_at", "created_at", "updated_at"]

    def get_has_client_secret(self, obj: WorkspaceConnector) -> bool:
        return obj.client_secret is not None


class WorkspaceConnectorCreateSerializer(WorkspaceConnectorSerializer):
    """Registering: a provider type whose endpoints are fixed, or the authorize and token URLs
    (services._connector_values; the schema states it as an anyOf, see below)."""


def _urls_are_fixed(provider: providers.Provider) -> bool:
    return not provider.config_fields  # else its URLs hold per-account settings ({subdomain})


class WorkspaceConnectorCreateScheme(OpenApiSerializerExtension):
    """The create request's schema: the connector's fields, and anyOf "provider_type names a
    provider with fixed URLs" / "authorize_url and token_url are given"."""

    target_class = WorkspaceConnectorCreateSerializer

    def map_serializer(self, auto_schema, direction):  # type: ignore[no-untyped-def]
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            # (a "not" rather than the enum of the others: drf-spectacular's enum naming would
            # take that for a second provider_type choice set)
            per_account = sorted(k for k, p in providers.all_providers().items()
                                 if not _urls_are_fixed(p))
            schema["anyOf"] = [
                {"required": ["provider_type"],
                 "properties": {"provider_type": {"minLength": 1,
                                                  "not": {"enum": per_account}}}},
                {"required": ["authorize_url", "token_url"],
                 "properties": {"authorize_url": {"minLength": 1},
                                "token_url": {"minLength": 1}}},
            ]
        return schema


class RotateSecretSerializer(StrictSerializer):
    client_secret = serializers.CharField(write_only=True, max_length=SECRET_VALUE_MAX,
                                          error_messages=_SECRET_TOO_LONG,
                                          style={"input_type": "password"})


class ConnectionSerializer(StrictModelSerializer):
    """Status only: never a token."""

    connector_id = serializers.CharField(source="connector.public_id", allow_null=True,
                                         default=None, read_only=True)
    app_user = serializers.CharField(source="app_user.external_id", allow_null=True,
                                     default=None, read_only=True)

    class Meta:
        model = Connection
        fields = ["id", "kind", "integration_type", "connector_id", "app_user", "status",
                  "scopes", "expires_at", "last_refresh_at", "last_handoff_at", "last_error",
                  "created_at"]
        read_only_fields = fields
