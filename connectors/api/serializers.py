from __future__ import annotations

from rest_framework import serializers

from secrets_vault.naming import SECRET_VALUE_MAX

from ..models import Connection, WorkspaceConnector

_SECRET_TOO_LONG = {"max_length": f"Client secrets are limited to {SECRET_VALUE_MAX} characters "
                                  "(the vault's limit)."}


class WorkspaceConnectorSerializer(serializers.ModelSerializer):
    """The client secret is write-only; responses only say whether one is set."""

    id = serializers.CharField(source="public_id", read_only=True)
    client_secret = serializers.CharField(write_only=True, required=False, allow_blank=True,
                                          max_length=SECRET_VALUE_MAX,
                                          error_messages=_SECRET_TOO_LONG,
                                          style={"input_type": "password"})
    has_client_secret = serializers.SerializerMethodField()

    class Meta:
        model = WorkspaceConnector
        fields = ["id", "name", "provider_type", "authorize_url", "token_url", "revocation_url",
                  "client_id", "client_secret", "has_client_secret", "scopes", "pkce",
                  "token_auth", "secret_rotated_at", "created_at", "updated_at"]
        read_only_fields = ["secret_rotated_at", "created_at", "updated_at"]

    def get_has_client_secret(self, obj: WorkspaceConnector) -> bool:
        return obj.client_secret is not None


class RotateSecretSerializer(serializers.Serializer):
    client_secret = serializers.CharField(write_only=True, max_length=SECRET_VALUE_MAX,
                                          error_messages=_SECRET_TOO_LONG,
                                          style={"input_type": "password"})


class ConnectionSerializer(serializers.ModelSerializer):
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
