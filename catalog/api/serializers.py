from __future__ import annotations

from typing import Any

from rest_framework import serializers

from secrets_vault.naming import SECRET_VALUE_MAX
from workspaces.api.strict import NameField, StatedRule, StrictModelSerializer, StrictSerializer

from ..models import (
    CatalogIntegration,
    Category,
    IntegrationRevision,
    Notification,
    ReviewState,
    Visibility,
)
from ..prompt_checks import how_to_get_problem, secret_name_problem, url_problem
from ..services import DECISIONS

#: prompt_checks.secret_name_problem's rule as a pattern (\Z: Python's $ would let a final line
#: break through; drf-spectacular writes it as the schema's $).
DECLARED_SECRET_NAME = r"^(?!CUSTOM_API_)[A-Z][A-Z0-9_]*\Z"


def _declared_secret_name(name: str) -> None:
    problem = secret_name_problem(name)
    if problem:
        raise serializers.ValidationError(problem)


class SecretDeclarationSerializer(StrictSerializer):
    name = serializers.CharField(max_length=100, trim_whitespace=False, validators=[
        StatedRule(DECLARED_SECRET_NAME, _declared_secret_name,
                   message=secret_name_problem(""))])
    description = serializers.CharField(max_length=300, required=False, allow_blank=True,
                                        default="")
    how_to_get = serializers.CharField(max_length=500, required=False, allow_blank=True,
                                       default="")

    def validate_how_to_get(self, how: str) -> str:
        problem = how_to_get_problem(how)
        if problem:
            raise serializers.ValidationError(f"This looks like a link but {problem}.")
        return how


class ContentSerializer(StrictSerializer):
    name = NameField(max_length=100, what="An integration name")
    slug = serializers.SlugField(max_length=60)
    short_description = serializers.CharField(max_length=200)
    category = serializers.ChoiceField(choices=Category.choices)
    doc_links = serializers.ListField(child=serializers.CharField(max_length=2000),
                                      required=False, default=list)
    backend_function = serializers.BooleanField(required=False, default=True)
    required_secrets = SecretDeclarationSerializer(many=True, required=False, default=list)
    prompt = serializers.CharField(trim_whitespace=False)

    def validate_doc_links(self, links: list[str]) -> list[str]:
        for link in links:
            problem = url_problem(link)
            if problem:
                raise serializers.ValidationError(f"“{link}” {problem}.")
        return links

    def validate_required_secrets(self, secrets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        names = [s["name"] for s in secrets]
        dups = sorted({n for n in names if names.count(n) > 1})
        if dups:
            raise serializers.ValidationError(f"Declared twice: {', '.join(dups)}.")
        return secrets


class IntegrationWriteSerializer(ContentSerializer):
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False,
                                         default=Visibility.PRIVATE)


class IntegrationSerializer(StrictModelSerializer):
    """A workspace's own integration: the working copy with its review state."""

    id = serializers.CharField(source="public_id", read_only=True)
    workspace = serializers.CharField(source="workspace.public_id", read_only=True)
    state = serializers.ChoiceField(choices=ReviewState.choices, read_only=True)
    live_revision = serializers.IntegerField(source="live_revision.number", read_only=True,
                                             allow_null=True, default=None)
    pending_revision = serializers.IntegerField(source="pending_revision.number", read_only=True,
                                                allow_null=True, default=None)
    required_secrets = SecretDeclarationSerializer(many=True, read_only=True)
    doc_links = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = CatalogIntegration
        fields = ["id", "workspace", "name", "slug", "short_description", "category",
                  "doc_links", "backend_function", "required_secrets", "prompt", "visibility",
                  "state", "live_revision", "pending_revision", "created_at", "updated_at"]
        read_only_fields = fields


class PublicIntegrationSerializer(StrictSerializer):
    """A public catalog entry: the live revision's content."""

    id = serializers.CharField(source="integration.public_id")
    revision = serializers.IntegerField(source="number")
    name = serializers.CharField()
    slug = serializers.CharField()
    short_description = serializers.CharField()
    category = serializers.ChoiceField(choices=Category.choices)
    doc_links = serializers.ListField(child=serializers.CharField())
    backend_function = serializers.BooleanField()
    required_secrets = SecretDeclarationSerializer(many=True)
    prompt = serializers.CharField()


class FindingSerializer(StrictSerializer):
    level = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()
    field = serializers.CharField()


class CheckResultSerializer(StrictSerializer):
    ok = serializers.BooleanField()
    errors = FindingSerializer(many=True)
    warnings = FindingSerializer(many=True)
    env_block = SecretDeclarationSerializer(many=True, allow_null=True)


class CheckRequestSerializer(StrictSerializer):
    prompt = serializers.CharField(trim_whitespace=False, allow_blank=True)
    required_secrets = serializers.ListField(child=serializers.DictField(), required=False,
                                             default=list)
    backend_function = serializers.BooleanField(required=False, default=True)
    doc_links = serializers.ListField(child=serializers.CharField(), required=False,
                                      default=list)


class RevisionSerializer(StrictModelSerializer):
    integration = serializers.CharField(source="integration.public_id", read_only=True)
    workspace_name = serializers.CharField(source="integration.workspace.name", read_only=True)
    submitted_by = serializers.EmailField(source="submitted_by.email", read_only=True,
                                          allow_null=True, default=None)
    is_update = serializers.BooleanField(read_only=True)
    required_secrets = SecretDeclarationSerializer(many=True, read_only=True)
    doc_links = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = IntegrationRevision
        fields = ["id", "integration", "number", "status", "is_update", "name", "slug",
                  "short_description", "category", "doc_links", "backend_function",
                  "required_secrets", "prompt", "workspace_name", "submitted_by", "submitted_at",
                  "decided_at", "decision_comment"]
        read_only_fields = fields


class DecisionSerializer(StrictSerializer):
    decision = serializers.ChoiceField(choices=list(DECISIONS))
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class InstallRequestSerializer(StrictSerializer):
    integration = serializers.CharField(max_length=24)
    secrets = serializers.DictField(child=serializers.CharField(allow_blank=True,
                                                                max_length=SECRET_VALUE_MAX,
                                                                trim_whitespace=False),
                                    required=False, default=dict, write_only=True,
                                    help_text="Secret name -> value, stored in the app's vault "
                                              "secrets (never in the catalog).")
    reuse = serializers.ListField(child=serializers.CharField(), required=False, default=list,
                                  help_text="Names whose current app value is kept.")


class SecretStatusSerializer(StrictSerializer):
    name = serializers.CharField()
    description = serializers.CharField()
    how_to_get = serializers.CharField()
    is_set = serializers.BooleanField()


class InstallationSerializer(StrictSerializer):
    id = serializers.CharField(source="installation.public_id")
    integration = serializers.CharField(source="integration.public_id")
    name = serializers.CharField(source="content.name")
    slug = serializers.CharField(source="content.slug")
    installed_at = serializers.DateTimeField(source="installation.installed_at")
    secrets = SecretStatusSerializer(many=True)
    missing = serializers.ListField(child=serializers.CharField(), required=False)


class InstalledIntegrationSerializer(StrictSerializer):
    """What an app's backend reads through the service-role API: prompts and variable names,
    never values."""

    id = serializers.CharField(source="integration.public_id")
    slug = serializers.CharField(source="content.slug")
    name = serializers.CharField(source="content.name")
    short_description = serializers.CharField(source="content.short_description")
    category = serializers.CharField(source="content.category")
    backend_function = serializers.BooleanField(source="content.backend_function")
    doc_links = serializers.ListField(child=serializers.CharField(), source="content.doc_links")
    prompt = serializers.CharField(source="content.prompt")
    variables = SecretStatusSerializer(many=True, source="secrets")
    installed_at = serializers.DateTimeField(source="installation.installed_at")


class NotificationSerializer(StrictModelSerializer):
    integration = serializers.CharField(source="integration.public_id", read_only=True)

    class Meta:
        model = Notification
        fields = ["id", "kind", "subject", "body", "url", "integration", "created_at", "read_at"]
        read_only_fields = fields

