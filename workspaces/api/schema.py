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
