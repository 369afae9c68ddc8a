"""Helpers for the integration import / management tests: the spec corpus, small generated
specs, a local HTTP server the egress client may reach, and integrations built through the
service layer."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from django.test.utils import override_settings

from integrations import services
from integrations.models import SpecImport, WorkspaceIntegration
from tests.integrations.egress_support import Handler, Upstream

SPECS = Path("/work/shared/specs")
_here = Path(__file__).resolve().parents[3] / "shared" / "specs"
if _here.is_dir():
    SPECS = _here

PETSTORE_30 = SPECS / "oai-petstore-3.0.yaml"


def canary() -> str:
    return f"CANARY-{uuid.uuid4().hex}"


def generated_spec(count: int, *, version: str = "3.0.3", prefix: str = "items",
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OpenAPI 3 spec with ``count`` GET operations (/items/0 ... ), tagged in tens."""
    paths: dict[str, Any] = {}
    for i in range(count):
        paths[f"/{prefix}/{i}"] = {"get": {
            "operationId": f"get{prefix.title()}{i}", "summary": f"Read {prefix} number {i}",
            "tags": [f"group{i // 10}"], "responses": {"200": {"description": "ok"}}}}
    spec = {"openapi": version, "info": {"title": "Generated API", "version": "1"},
            "servers": [{"url": "https://gen.example.com/v1"}], "paths": paths}
    if extra:
        spec.update(extra)
    return spec


CONTACTS_V1: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Contacts", "version": "1"},
    "servers": [{"url": "https://contacts.example.com/api"}],
    "paths": {
        "/contacts": {
            "get": {"operationId": "listContacts", "summary": "List contacts",
                    "tags": ["contacts"],
                    "parameters": [{"name": "limit", "in": "query",
                                    "schema": {"type": "integer"}}],
                    "responses": {"200": {"description": "ok"}}},
            "post": {"operationId": "createContact", "summary": "Create a contact",
                     "requestBody": {"content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/Contact"}}}},
                     "responses": {"201": {"description": "created"}}},
        },
        "/contacts/{id}": {
            "parameters": [{"name": "id", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "get": {"operationId": "getContact", "responses": {"200": {"description": "ok"}}},
            "delete": {"operationId": "deleteContact",
                       "responses": {"204": {"description": "gone"}}},
        },
    },
    "components": {"schemas": {"Contact": {
        "type": "object", "required": ["email"],
        "properties": {"email": {"type": "string", "format": "email"},
                       "name": {"type": "string"}}}}},
}


def contacts_v2() -> dict[str, Any]:
    """v1 with delete removed, the Contact schema changed and a new operation."""
    spec = json.loads(json.dumps(CONTACTS_V1))
    del spec["paths"]["/contacts/{id}"]["delete"]
    spec["components"]["schemas"]["Contact"]["properties"]["phone"] = {"type": "string"}
    spec["paths"]["/groups"] = {"get": {"operationId": "listGroups",
                                        "responses": {"200": {"description": "ok"}}}}
    return spec


def serve(upstream: Upstream, path: str, body: bytes | str, *, status: int = 200,
          content_type: str = "application/json") -> str:
    data = body.encode() if isinstance(body, str) else body

    def route(h: Handler) -> None:
        h.reply(status, data, [("Content-Type", content_type)])

    upstream.routes[path] = route
    return upstream.url(path)


def serve_folder(upstream: Upstream, folder: Path, prefix: str = "/") -> None:
    """Serve every file of ``folder`` under ``prefix``."""
    for path in folder.rglob("*"):
        if path.is_file():
            serve(upstream, prefix + path.relative_to(folder).as_posix(), path.read_bytes(),
                  content_type="application/yaml" if path.suffix in (".yaml", ".yml")
                  else "application/json")


def egress_to(upstream: Upstream) -> Any:
    """Settings that let the egress client reach the local server."""
    return override_settings(EGRESS_ALLOW_CIDRS=["127.0.0.0/8"],
                             EGRESS_ALLOWED_PORTS=[80, 443, upstream.port])


def ready_import(workspace: Any, actor: Any, spec: dict[str, Any] | str) -> SpecImport:
    """A pasted import, validated at once (what the task does after commit)."""
    text = spec if isinstance(spec, str) else json.dumps(spec)
    spec_import = services.import_pasted(workspace, actor=actor, text=text)
    services.run_import(spec_import.pk)
    spec_import.refresh_from_db()
    assert spec_import.status == SpecImport.Status.READY, spec_import.error_message
    return spec_import


def make_integration(workspace: Any, actor: Any, *, spec: dict[str, Any] | None = None,
                     slug: str = "contacts", keys: list[str] | None = None,
                     headers: list[services.HeaderInput] | None = None,
                     spec_import: SpecImport | None = None) -> WorkspaceIntegration:
    spec_import = spec_import or ready_import(workspace, actor, spec or CONTACTS_V1)
    if keys is None:
        keys = [op["key"] for op in spec_import.operations]
    return services.create_integration(
        workspace, actor=actor, spec_import=spec_import, slug=slug, name=slug.title(),
        base_url="https://api.example.com/v1", operation_keys=keys, headers=headers or [])
