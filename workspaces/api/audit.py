"""GET /api/v1/workspaces/{ws}/audit/: the workspace's audit trail (admins and owners),
newest first, cursor-paginated, with the page's filters."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.pagination import CursorPagination

from .. import audit
from ..access import get_workspace_for
from ..models import AuditEntry

ACTOR_PATTERN = r"^(?:[0-9]{1,18}|" + "|".join(k.value for k in AuditEntry.ActorKind) + r")$"


class AuditActorSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=AuditEntry.ActorKind.choices)
    label = serializers.CharField(help_text="An e-mail, \"alice@example.com via token 'ci'\", "
                                            "\"service token 'deploy' ...\", \"system\".")
    user_id = serializers.IntegerField(allow_null=True,
                                       help_text="The user, when a person acted (else null).")


class AuditTargetSerializer(serializers.Serializer):
    type = serializers.CharField(help_text="app, member, secret, integration, ...")
    id = serializers.CharField(help_text="Its public id (or number); empty for old entries.")
    name = serializers.CharField()
    scope = serializers.CharField(help_text="e.g. app:<id> for app-scoped targets.")


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    target = serializers.SerializerMethodField()
    changes = serializers.JSONField(help_text=(
        'Field-level diff: {field: {"from": before, "to": after}}; secret-bearing fields '
        'are "changed", "set" or "removed", never a value.'))

    class Meta:
        model = AuditEntry
        fields = ["id", "created_at", "action", "actor", "target", "changes"]

    @extend_schema_field(AuditActorSerializer)
    def get_actor(self, entry: AuditEntry) -> dict[str, Any]:
        return {"kind": entry.actor_kind, "label": entry.actor_label or "system",
                "user_id": entry.actor_id}

    @extend_schema_field(AuditTargetSerializer)
    def get_target(self, entry: AuditEntry) -> dict[str, Any]:
        return {"type": entry.target_type, "id": entry.target_id, "name": entry.target_name,
                "scope": entry.scope}


class _Given:
    """A query parameter sent empty (``?since=``) is checked like any value (DRF would treat
    it as absent): the schema says a date is a date."""

    def get_value(self, dictionary: Any) -> Any:
        return dictionary.get(self.field_name, serializers.empty)


class _Date(_Given, serializers.DateField):
    pass


class _Pattern(_Given, serializers.RegexField):
    pass


class _Text(_Given, serializers.CharField):
    pass


class AuditQuerySerializer(serializers.Serializer):
    actor = _Pattern(ACTOR_PATTERN, required=False, max_length=40, help_text=(
        "A user id, or an actor kind (user, personal_token, service_token, app_user, "
        "staff_reviewer, system)."))
    action = _Text(required=False, max_length=60, help_text=(
        'An action (member.invite), or a prefix ending in "." (member.).'))
    target_type = _Text(required=False, max_length=60)
    since = _Date(required=False, help_text="From this day (included).")
    until = _Date(required=False, help_text="Up to this day (included).")


class AuditPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50


class AuditListView(generics.ListAPIView):
    serializer_class = AuditEntrySerializer
    pagination_class = AuditPagination

    @extend_schema(parameters=[AuditQuerySerializer], operation_id="v1_workspaces_audit_list",
                   description="Admins and owners: who changed what in the workspace, newest "
                               "first (cursor-paginated; follow `next`).")
    def get(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> Any:
        m = get_workspace_for(self.request.user, self.kwargs["workspace_id"], "view_audit")
        query = AuditQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return audit.entries(m.workspace, **query.validated_data)
