"""Teach drf-spectacular our bearer authenticators so the schema documents them."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PersonalAccessTokenScheme(OpenApiAuthenticationExtension):
    target_class = "workspaces.api.authentication.PersonalAccessTokenAuthentication"
    name = "personalAccessToken"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {"type": "http", "scheme": "bearer", "bearerFormat": "sbp_…",
                "description": "Personal access token from the dashboard (admin API)."}


class SDKScheme(OpenApiAuthenticationExtension):
    target_class = "workspaces.api.authentication.SDKAuthentication"
    name = "appToken"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {"type": "http", "scheme": "bearer",
                "description": "An app service token (sbs_…) or an app-user JWT. Service-role "
                               "calls may add `on-behalf-of: Bearer <app-user JWT>`."}


# --- the error component and paginated lists, shared by every app's admin API ----------------

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer  # noqa: E402
from rest_framework import serializers  # noqa: E402


class ErrorSerializer(serializers.Serializer):
    """Every /api/ error (workspaces.api.errors): a message, a machine code, and for field
    problems the messages by field."""

    detail = serializers.CharField(help_text="What went wrong, for a person.")
    code = serializers.CharField(help_text="A stable machine code (invalid, not_found, ...).")
    errors = serializers.DictField(required=False,
                                   help_text="Field problems: field name -> list of messages.")

    class Meta:
        ref_name = "Error"


PAGE_PARAMETER = OpenApiParameter("page", int, description="A page number within the results "
                                  "(PageNumberPagination, PAGE_SIZE per page).")


def paginated(child: type[serializers.Serializer],
              **extra: serializers.Field) -> serializers.Serializer:
    """The schema of PageNumberPagination's answer around ``child`` (for views that paginate by
    hand): {"count", "next", "previous", "results": [...]} plus ``extra`` fields."""
    name = child.__name__.removesuffix("Serializer")
    return inline_serializer(name=f"Paginated{name}List", fields={
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": child(many=True),
        **extra,
    })


#: For operations that can answer 409 (workspaces.api.errors.CONFLICT_CODES): declare it with
#: ``@extend_schema(responses={..., 409: CONFLICT})``.
CONFLICT = OpenApiResponse(ErrorSerializer, description=(
    "Conflicts with what exists: a name or slug already taken (code duplicate or "
    "duplicate_slug)."))
