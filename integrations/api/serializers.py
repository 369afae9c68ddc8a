"""Admin API serializers of workspace integrations. Header values are write-only: sensitive
ones are never returned, plain ones only to admins."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from workspaces.api.strict import NameField, StrictSerializer

from .. import services
from ..models import SpecImport, WorkspaceIntegration


class IntegrationFindingSerializer(StrictSerializer):
    message = serializers.CharField()
    location = serializers.CharField(help_text="JSON pointer into the spec ('' = whole spec).")
    code = serializers.CharField()


class IntegrationImportErrorSerializer(StrictSerializer):
    code = serializers.CharField()
    message = serializers.CharField()


class IntegrationDiffSerializer(StrictSerializer):
    base_spec = serializers.CharField(help_text="Id of the spec import it was compared with.")
    added = serializers.ListField(child=serializers.CharField())
    removed = serializers.ListField(child=serializers.CharField())
    changed = serializers.ListField(child=serializers.CharField())
    affected = serializers.ListField(child=serializers.CharField(),
                                     help_text="Selected operations removed or changed.")
    partial = serializers.BooleanField()


class IntegrationImportSerializer(StrictSerializer):
    id = serializers.CharField(source="public_id")
    purpose = serializers.ChoiceField(choices=SpecImport.Purpose.choices)
    source = serializers.ChoiceField(choices=SpecImport.Source.choices)
    source_url = serializers.CharField()
    status = serializers.ChoiceField(choices=SpecImport.Status.choices,
                                     help_text="pending → running → ready | failed")
    stage = serializers.CharField(help_text="What the worker is doing while running.")
    title = serializers.CharField()
    api_version = serializers.CharField()
    spec_version = serializers.CharField()
    operation_count = serializers.SerializerMethodField()
    default_base_url = serializers.CharField()
    warnings = IntegrationFindingSerializer(many=True,
                                            help_text="Validator findings; never blocking.")
    error = serializers.SerializerMethodField()
    diff = serializers.SerializerMethodField()
    integration = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_operation_count(self, obj: SpecImport) -> int:
        return len(obj.operations or [])

    @extend_schema_field(IntegrationImportErrorSerializer(allow_null=True))
    def get_error(self, obj: SpecImport) -> dict[str, str] | None:
        if obj.status != SpecImport.Status.FAILED:
            return None
        return {"code": obj.error_code, "message": obj.error_message}

    @extend_schema_field(IntegrationDiffSerializer(allow_null=True))
    def get_diff(self, obj: SpecImport) -> dict[str, Any] | None:
        return obj.diff or None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_integration(self, obj: SpecImport) -> str | None:
        ids = self.context.get("integration_ids", {})
        return ids.get(obj.integration_id) if obj.integration_id else None


class IntegrationImportCreateSerializer(StrictSerializer):
    url = serializers.CharField(required=False, max_length=2000,
                                help_text="Fetch the spec from this public URL (a task).")
    spec = serializers.JSONField(required=False, help_text=(
        "The spec itself: a string of JSON or YAML, or the JSON object."))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("url" in attrs) == ("spec" in attrs):
            raise serializers.ValidationError("Send either url or spec.")
        return attrs


class IntegrationImportUploadSerializer(StrictSerializer):
    spec = serializers.FileField(help_text="The spec file (JSON or YAML), up to 25 MiB.")


class IntegrationOperationSerializer(StrictSerializer):
    key = serializers.CharField(help_text="method:path, what apps call.")
    method = serializers.CharField()
    path = serializers.CharField()
    operation_id = serializers.CharField()
    summary = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    deprecated = serializers.BooleanField(required=False)


class IntegrationSelectedOperationSerializer(IntegrationOperationSerializer):
    snippet = serializers.CharField(help_text="SDK call with a skeleton of the parameters.")
    params = serializers.JSONField(help_text="{pathParams, queryParams, payload} skeleton.")


class IntegrationHeaderInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    value = serializers.CharField(required=False, write_only=True, allow_blank=True,
                                  trim_whitespace=False, max_length=services.MAX_HEADER_VALUE,
                                  help_text="Write-only. Omit to keep the stored value of an "
                                            "existing header with this name.")
    sensitive = serializers.BooleanField(required=False, default=False, help_text=(
        "Store this header's value encrypted and never return it, whatever its name. Known "
        "sensitive names (Authorization, X-Api-Key, ...) and a kept sensitive header are "
        "sensitive whatever this says; to make a sensitive header plain, send a new value."))


class IntegrationHeaderSerializer(StrictSerializer):
    name = serializers.CharField()
    sensitive = serializers.BooleanField()
    value = serializers.CharField(allow_null=True, help_text=(
        "Plain headers only, and only for admins; null for sensitive headers."))


def header_data(integration: WorkspaceIntegration, *, can_manage: bool) -> list[dict[str, Any]]:
    """The headers as the API shows them: never a sensitive value; plain values to admins."""
    return [{"name": h.name, "sensitive": h.sensitive,
             "value": None if h.sensitive or not can_manage else h.value}
            for h in integration.headers.all()]


class IntegrationHeadersSerializer(StrictSerializer):
    headers = IntegrationHeaderInputSerializer(many=True)


class IntegrationCallerSerializer(StrictSerializer):
    app_id = serializers.CharField()
    name = serializers.CharField()
    calls = serializers.IntegerField()
    last_call_at = serializers.DateTimeField()


class IntegrationSpecSummarySerializer(StrictSerializer):
    id = serializers.CharField(source="public_id")
    source = serializers.CharField()
    source_url = serializers.CharField()
    title = serializers.CharField()
    api_version = serializers.CharField()
    spec_version = serializers.CharField()
    created_at = serializers.DateTimeField()


class WorkspaceIntegrationSerializer(StrictSerializer):
    id = serializers.CharField(source="public_id")
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    base_url = serializers.CharField()
    operation_count = serializers.SerializerMethodField()
    operations = serializers.ListField(source="selected_keys", child=serializers.CharField())
    headers = serializers.SerializerMethodField()
    notice = serializers.CharField()
    config_version = serializers.IntegerField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_operation_count(self, obj: WorkspaceIntegration) -> int:
        return len(obj.selected_keys)

    @extend_schema_field(IntegrationHeaderSerializer(many=True))
    def get_headers(self, obj: WorkspaceIntegration) -> list[dict[str, Any]]:
        return header_data(obj, can_manage=self.context.get("can_manage", False))


class WorkspaceIntegrationDetailSerializer(WorkspaceIntegrationSerializer):
    spec = serializers.SerializerMethodField()
    recent_callers = serializers.SerializerMethodField()

    @extend_schema_field(IntegrationSpecSummarySerializer)
    def get_spec(self, obj: WorkspaceIntegration) -> dict[str, Any]:
        spec = SpecImport.objects.defer("raw_text", "operations").get(pk=obj.spec_id)
        return IntegrationSpecSummarySerializer(spec).data

    @extend_schema_field(IntegrationCallerSerializer(many=True))
    def get_recent_callers(self, obj: WorkspaceIntegration) -> list[dict[str, Any]]:
        return [{"app_id": c["app"].public_id, "name": c["app"].name, "calls": c["calls"],
                 "last_call_at": c["last_call_at"]} for c in services.recent_callers(obj)]


class WorkspaceIntegrationCreateSerializer(StrictSerializer):
    import_id = serializers.CharField(help_text="A ready import (POST .../integrations/imports/).")
    slug = serializers.CharField(max_length=services.SLUG_MAX)
    name = NameField(max_length=services.MAX_NAME, what="An integration name")
    description = serializers.CharField(required=False, allow_blank=True,
                                        max_length=services.MAX_DESCRIPTION)
    base_url = serializers.CharField(required=False, max_length=2000,
                                     help_text="Defaults to the spec's server URL.")
    operations = serializers.ListField(child=serializers.CharField(), min_length=1,
                                       help_text="Up to 30 operation keys (method:path).")
    headers = IntegrationHeaderInputSerializer(many=True, required=False)


class WorkspaceIntegrationUpdateSerializer(StrictSerializer):
    slug = serializers.CharField(required=False, max_length=services.SLUG_MAX)
    name = NameField(required=False, max_length=services.MAX_NAME, what="An integration name")
    description = serializers.CharField(required=False, allow_blank=True,
                                        max_length=services.MAX_DESCRIPTION)
    base_url = serializers.CharField(required=False, max_length=2000)
    operations = serializers.ListField(child=serializers.CharField(), required=False,
                                       min_length=1)
    headers = IntegrationHeaderInputSerializer(many=True, required=False, help_text=(
        "The full list of headers (replaces it). Omit a value to keep a stored one."))


class IntegrationApplyRefreshSerializer(StrictSerializer):
    import_id = serializers.CharField(help_text="The ready refresh import to apply.")
    operations = serializers.ListField(child=serializers.CharField(), required=False,
                                       min_length=1, help_text=(
                                           "The selection to keep; default: the current one "
                                           "minus operations no longer in the spec."))


class IntegrationApplyRefreshResultSerializer(StrictSerializer):
    integration = WorkspaceIntegrationSerializer()
    dropped = serializers.ListField(child=serializers.CharField())

