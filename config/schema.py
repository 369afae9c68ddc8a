"""The project's drf-spectacular AutoSchema: every admin-API operation (/api/v1/) declares the
error statuses it can answer, all with the one error component (workspaces.api.schema.Error),
so a generated client knows them. One mechanism instead of per-view decorators; a view's own
declaration of a status wins."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.utils import OpenApiResponse

from workspaces.api.schema import ErrorSerializer

STANDARD_ERRORS = {
    "400": "Invalid input (see errors) or a rule refused the request.",
    "401": "No credentials, or a wrong, expired or revoked personal access token.",
    "403": "Authenticated, but the role or plan does not allow this.",
    "404": "No such object, or not visible to the caller; or a page past the end.",
}


class AutoSchema(BaseAutoSchema):
    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response" or not self.path.startswith("/api/v1/"):
            return responses
        for status, description in STANDARD_ERRORS.items():
            if status not in responses:
                responses[status] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), status,
                    direction=direction)
        return responses
