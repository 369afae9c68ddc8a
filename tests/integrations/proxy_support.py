"""Helpers for the proxy / SDK tests: a small spec, integrations built straight on the models,
a local upstream, and settings that let the egress client reach it."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from integrations import egress, openapi, runtime
from integrations.models import IntegrationHeader, SpecImport, WorkspaceIntegration
from tests.integrations.egress_support import Upstream
from workspaces.models import Workspace

PET = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "tag": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "kind": {"$ref": "#/components/schemas/Kind"},
    },
}

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Pets", "version": "1"},
    "servers": [{"url": "https://pets.example.com/v1"}],
    "paths": {
        "/pets": {
            "get": {
                "operationId": "listPets",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer",
                                                                "maximum": 100}},
                    {"name": "tags", "in": "query",
                     "schema": {"type": "array", "items": {"type": "string"}}},
                    {"name": "status", "in": "query",
                     "schema": {"type": "string", "enum": ["available", "pending", "sold"]}},
                    {"name": "fresh", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": {"200": {"description": "ok"}},
            },
            "post": {
                "operationId": "createPet",
                "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}},
                "responses": {"201": {"description": "created"}},
            },
        },
        "/pets/{petId}": {
            "parameters": [{"name": "petId", "in": "path", "required": True,
                            "schema": {"type": "integer"}}],
            "get": {"operationId": "showPet", "responses": {"200": {"description": "ok"}}},
            "delete": {"operationId": "deletePet", "responses": {"204": {"description": "x"}}},
        },
        "/repos/{owner}/{repo}/issues": {
            "post": {
                "parameters": [
                    {"name": "owner", "in": "path", "required": True,
                     "schema": {"type": "string"}},
                    {"name": "repo", "in": "path", "required": True,
                     "schema": {"type": "string"}},
                    {"name": "state", "in": "query", "required": True,
                     "schema": {"type": "string", "enum": ["open", "closed"]}},
                ],
                "requestBody": {"content": {"application/json": {"schema": {
                    "type": "object", "properties": {"title": {"type": "string"}}}}}},
                "responses": {"201": {"description": "created"}},
            },
        },
        "/forms/{name}": {
            "put": {
                "parameters": [{"name": "name", "in": "path", "required": True,
                                "schema": {"type": "string"}}],
                "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                    "type": "object", "properties": {"a": {"type": "string"}}}}}},
                "responses": {"200": {"description": "ok"}},
            },
        },
        "/files/{name}": {"get": {
            "parameters": [{"name": "name", "in": "path", "required": True,
                            "schema": {"type": "string"}}],
            "responses": {"200": {"description": "a file"}}}},
        "/binary": {"get": {"responses": {"200": {"description": "png"}}}},
        "/text": {"get": {"responses": {"200": {"description": "text"}}}},
        "/redirect": {"get": {"responses": {"302": {"description": "moved"}}}},
        "/slow": {"get": {"responses": {"200": {"description": "late"}}}},
        "/garbage": {"get": {"responses": {"200": {"description": "?"}}}},
        "/status/{code}": {"get": {
            "parameters": [{"name": "code", "in": "path", "required": True,
                            "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "any"}}}},
        "/not-selected": {"get": {"responses": {"200": {"description": "hidden"}}}},
    },
    "components": {
        "schemas": {"Pet": PET, "Kind": {"type": "string", "enum": ["cat", "dog"]}},
    },
}

ALL_KEYS = [
    "get:/pets", "post:/pets", "get:/pets/{petId}", "delete:/pets/{petId}",
    "post:/repos/{owner}/{repo}/issues", "put:/forms/{name}", "get:/binary", "get:/text",
    "get:/redirect", "get:/slow", "get:/garbage", "get:/status/{code}", "get:/files/{name}",
]


def make_integration(
    workspace: Workspace,
    base_url: str,
    *,
    slug: str = "pets",
    keys: Iterable[str] = ALL_KEYS,
    headers: Iterable[tuple[str, str, bool]] = (),
    spec: dict[str, Any] | None = None,
) -> WorkspaceIntegration:
    """An integration built on the models (no wizard): headers are (name, value, sensitive);
    sensitive values go to the vault as system secrets, like the wizard stores them."""
    doc = copy.deepcopy(spec or SPEC)
    keys = list(keys)
    spec_import = SpecImport.objects.create(
        workspace=workspace, source=SpecImport.Source.PASTE, raw_text=json.dumps(doc),
        status=SpecImport.Status.READY, title=doc["info"]["title"],
        operations=[{"key": op.key} for op in openapi.list_operations(doc)])
    integration = WorkspaceIntegration.objects.create(
        workspace=workspace, slug=slug, name=slug.title(), base_url=base_url, spec=spec_import,
        selected_keys=keys, operations_doc=openapi.extract_operations(doc, keys))
    for n, (name, value, sensitive) in enumerate(headers, start=1):
        if sensitive:
            from secrets_vault import services as vault

            secret_name = f"__integration_{integration.public_id}_h{n}"
            vault.set_secret(workspace, secret_name, value, actor=None, kind="system")
            IntegrationHeader.objects.create(integration=integration, name=name, sensitive=True,
                                             secret_name=secret_name, position=n)
        else:
            IntegrationHeader.objects.create(integration=integration, name=name, value=value,
                                             position=n)
    return integration


def call_url(app_id: str, slug: str, operation: str) -> str:
    return f"/api/apps/{app_id}/integrations/custom/{slug}/{operation}"


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def egress_open(settings: Any, upstream: Upstream) -> Any:
    """Let the egress client reach 127.0.0.0/8 on the upstream's port (tests only)."""
    settings.EGRESS_ALLOW_CIDRS = ["127.0.0.0/8"]
    settings.EGRESS_ALLOWED_PORTS = [80, 443, upstream.port]
    settings.PROXY_RATE_LIMIT_PER_MINUTE = 0
    return settings


@pytest.fixture(autouse=True)
def _fresh_proxy_state() -> Iterator[None]:
    from django.core.cache import cache

    runtime.invalidate()
    cache.clear()
    yield
    runtime.invalidate()
    egress.clear_pools()
