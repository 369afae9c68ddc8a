"""The project's drf-spectacular AutoSchema: every admin-API operation (/api/v1/) declares the
error statuses it can answer, all with the one error component (workspaces.api.schema.Error),
so a generated client knows them. One mechanism instead of per-view decorators; a view's own
declaration of a status wins (e.g. ``409: workspaces.api.schema.CONFLICT``).

It also states two rules the server applies everywhere:
- every string query parameter refuses control characters (config.middleware answers 400), so
  each gets that ``pattern``;
- a blank-able string with a pattern that already matches "" (workspaces.api.strict.none_of)
  keeps that one pattern: drf-spectacular would wrap it as ``oneOf: [pattern, maxLength 0]``,
  which refuses "" (it matches both branches) though the server accepts it.
"""

from __future__ import annotations

import re
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
#: config.middleware.CONTROL_CHARACTERS, in the schema's (ECMA-262) regex dialect.
QUERY_VALUE_PATTERN = r"^[^\u0000-\u001f\u007f]*$"
_BLANK = {"type": "string", "maxLength": 0}


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

    def _get_parameters(self) -> list[dict[str, Any]]:
        parameters = super()._get_parameters()
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if parameter.get("in") == "query" and schema.get("type") == "string" \
                    and "enum" not in schema and "pattern" not in schema:
                schema["pattern"] = QUERY_VALUE_PATTERN
        return parameters

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        super()._insert_field_validators(field, schema)
        branches = schema.get("oneOf")
        if branches and len(branches) == 2 and branches[1] == _BLANK:
            inner = branches[0]
            if set(inner) <= {"type", "pattern", "maxLength"} and "pattern" in inner \
                    and re.search(inner["pattern"], ""):
                del schema["oneOf"]
                schema.update(inner)
