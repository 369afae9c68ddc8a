"""A ``$ref`` key is a JSON Reference only where the OpenAPI / JSON Schema grammar puts one.

In ``example``, ``examples[]`` / ``examples.*.value``, ``default``, ``enum``, ``const`` and
``x-*`` extensions it is data (SCIM documents carry ``"$ref": "https://..."`` members); under
``properties`` it is a property name. Each place gets its own spec (the only "bad" ``$ref`` is
the data one), imported through the API and the parser, listed, extracted, diffed and bundled,
with the real refs next to it still resolving."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from integrations import openapi as oa
from integrations.models import SpecImport

pytestmark = pytest.mark.django_db

ORIGIN = "https://specs.example.com"
#: A SCIM group as the spec's examples hold it: "$ref" is a member's URL, not a reference.
SCIM = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops",
        "members": [{"value": "2819c223", "$ref": "https://scim.example.com/Users/2819c223"}]}
DATA_REF = {"$ref": "https://data.example.com/not-a-reference.json"}


def base_doc() -> dict[str, Any]:
    """A 3.1 spec whose real refs cover schemas, a property named ``$ref``, an example
    reference and a response reference; nothing in it is data yet."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "SCIM groups", "version": "1"},
        "servers": [{"url": "https://api.example.com/scim"}],
        "paths": {"/groups": {"post": {
            "operationId": "createGroup",
            "requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Group"},
                "examples": {"byRef": {"$ref": "#/components/examples/Group"}},
            }}},
            "responses": {
                "201": {"description": "created", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Group"}}}},
                "default": {"$ref": "#/components/responses/Error"},
            },
        }}, "/health": {"get": {"responses": {"200": {"description": "ok"}}}}},
        "components": {
            "examples": {"Group": {"summary": "a group", "value": {"displayName": "x"}}},
            "responses": {"Error": {"description": "error", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}},
            "schemas": {
                "Error": {"type": "object", "properties": {"detail": {"type": "string"}}},
                "Uri": {"type": "string", "format": "uri"},
                "Member": {"type": "object", "properties": {
                    "value": {"type": "string"},
                    # a property NAMED "$ref", whose schema is itself a real reference
                    "$ref": {"$ref": "#/components/schemas/Uri"},
                }},
                "Group": {"type": "object", "properties": {
                    "displayName": {"type": "string"},
                    "members": {"type": "array", "items": {"$ref": "#/components/schemas/Member"}},
                }},
                "Unused": {"type": "string"},
            },
        },
    }


def _group(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["components"]["schemas"]["Group"]


def _media(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["paths"]["/groups"]["post"]["requestBody"]["content"]["application/json"]


def _place(name: str, doc: dict[str, Any]) -> list[Any]:
    """Put data holding ``$ref`` at one place; returns the JSON pointer tokens of it."""
    if name == "example":
        _group(doc)["example"] = copy.deepcopy(SCIM)
        return ["components", "schemas", "Group", "example"]
    if name == "examples.value":
        doc["components"]["examples"]["Group"]["value"] = copy.deepcopy(SCIM)
        _media(doc)["examples"]["inline"] = {"value": copy.deepcopy(SCIM)}
        return ["components", "examples", "Group", "value"]
    if name == "schema examples[]":
        _group(doc)["examples"] = [copy.deepcopy(SCIM)]
        return ["components", "schemas", "Group", "examples"]
    if name == "default":
        _group(doc)["properties"]["displayName"]["default"] = dict(DATA_REF)
        return ["components", "schemas", "Group", "properties", "displayName", "default"]
    if name == "enum":
        _group(doc)["properties"]["displayName"]["enum"] = [dict(DATA_REF), "Ops"]
        return ["components", "schemas", "Group", "properties", "displayName", "enum"]
    if name == "const":
        _group(doc)["properties"]["displayName"]["const"] = dict(DATA_REF)
        return ["components", "schemas", "Group", "properties", "displayName", "const"]
    if name == "x-extension":
        doc["paths"]["/groups"]["post"]["x-links"] = {"$ref": "../elsewhere.yaml#/x"}
        doc["x-vendor"] = {"config": {"$ref": "https://vendor.example.com/cfg"}}
        _group(doc)["x-scim"] = {"$ref": "urn:scim:no"}
        return ["paths", "/groups", "post", "x-links"]
    if name == "property named $ref":
        # the schema of the property named "$ref" is inline, so no "$ref" string sits there
        _group(doc)["properties"]["$ref"] = {"type": "string", "format": "uri"}
        return ["components", "schemas", "Group", "properties", "$ref"]
    raise AssertionError(name)


PLACES = ["example", "examples.value", "schema examples[]", "default", "enum", "const",
          "x-extension", "property named $ref"]


def at(doc: Any, tokens: list[Any]) -> Any:
    for token in tokens:
        doc = doc[token]
    return doc


@pytest.fixture(params=PLACES)
def placed(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], list[Any]]:
    doc = base_doc()
    tokens = _place(request.param, doc)
    return request.param, doc, tokens


def test_the_data_ref_is_imported_listed_and_extracted_untouched(placed) -> None:
    name, doc, tokens = placed
    data = copy.deepcopy(at(doc, tokens))
    parsed = oa.parse_spec(json.dumps(doc))  # old code: external_ref / unresolved_ref
    assert [op.key for op in parsed.operations] == ["post:/groups", "get:/health"]
    assert oa.find_external_refs(parsed.doc) == set()
    sub = oa.extract_operations(parsed.doc, ["post:/groups"])
    kept = sub["components"]["schemas"]
    # the real refs next to the data resolve: Member (items), Uri (property named $ref), the
    # example and response references; nothing unreferenced is copied
    assert sorted(kept) == ["Error", "Group", "Member", "Uri"]
    assert sorted(sub["components"]["examples"]) == ["Group"]
    assert sorted(sub["components"]["responses"]) == ["Error"]
    if tokens[0] == "components":
        assert at(sub, tokens) == data  # the data went along, as it was
    oa.parse_document(sub)  # the stored sub-document passes the checks again
    # the request body validates with the property named "$ref" as a property
    schemas = oa.operation_schemas(sub, "post:/groups")
    validator = schemas.validator(schemas.body)
    assert list(validator.iter_errors({"members": [{"value": "a", "$ref": "https://x/1"}]})) == []
    errors = list(validator.iter_errors({"members": [{"$ref": 5}]}))
    assert [e.message for e in errors] == ["5 is not of type 'string'"]


def test_the_diff_sees_changed_data_and_nothing_else(placed) -> None:
    name, doc, tokens = placed
    old = oa.extract_operations(oa.parse_spec(json.dumps(doc)).doc, ["post:/groups"])
    same = oa.diff_operations(old, copy.deepcopy(doc), ["post:/groups"])
    assert not same.has_changes and same.partial
    changed = copy.deepcopy(doc)
    holder = at(changed, tokens)
    if isinstance(holder, list):
        holder.append("another")
    else:
        holder["extra"] = True
    diff = oa.diff_operations(old, changed, ["post:/groups", "get:/health"])
    if name == "x-extension":  # an extension of the operation is part of the operation
        assert diff.changed == ["post:/groups"]
    else:
        assert diff.changed == ["post:/groups"] and diff.affected_selected == ["post:/groups"]
    # a change in a real referenced schema next to the data is seen too
    changed = copy.deepcopy(doc)
    changed["components"]["schemas"]["Uri"]["format"] = "iri"
    assert oa.diff_operations(old, changed, ["post:/groups"]).changed == ["post:/groups"]


def test_bundling_fetches_real_files_only_and_keeps_the_data(placed) -> None:
    name, doc, tokens = placed
    # a real reference to another file, next to the data
    doc["components"]["schemas"]["Error"] = {"$ref": "common.json#/Error"}
    data = copy.deepcopy(at(doc, tokens))
    common = {"Error": {"type": "object", "example": copy.deepcopy(SCIM),
                        "x-more": {"$ref": "missing.json"},
                        "properties": {"$ref": {"$ref": "#/Code"}}},
              "Code": {"type": "integer"}}
    files = {f"{ORIGIN}/api/common.json": json.dumps(common)}
    calls: list[str] = []

    def fetch(url: str) -> str:
        calls.append(url)
        if url not in files:
            raise oa.SpecError(f"{url} answered 404.", "fetch_failed")
        return files[url]

    parsed = oa.parse_spec(json.dumps(doc), source_url=f"{ORIGIN}/api/openapi.json", fetch=fetch)
    assert calls == [f"{ORIGIN}/api/common.json"]  # no data URL was fetched
    bundled = parsed.doc
    assert at(bundled, tokens) == data  # the data was not rewritten
    error = bundled[oa.BUNDLE_KEY]["common.json"]["Error"]
    assert error["example"] == SCIM and error["x-more"] == {"$ref": "missing.json"}
    assert error["properties"]["$ref"] == {"$ref": "#/x-bundled/common.json/Code"}
    sub = oa.extract_operations(bundled, ["post:/groups"])
    assert sub[oa.BUNDLE_KEY]["common.json"]["Code"] == {"type": "integer"}


def test_the_api_imports_every_place_and_lists_the_operations(api, personas,
                                                              django_capture_on_commit_callbacks):
    client = api(personas.admin)
    base = f"/api/v1/workspaces/{personas.workspace.public_id}/integrations/"
    doc = base_doc()
    for name in PLACES:
        _place(name, doc)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(base + "imports/", doc, format="json")
    assert response.status_code == 202, response.json()  # old code: 400 external_ref
    spec_import = response.json()
    ops = client.get(base + f"imports/{spec_import['id']}/operations/").json()
    assert [o["key"] for o in ops] == ["post:/groups", "get:/health"]
    response = client.post(base, {"import_id": spec_import["id"], "slug": "scim", "name": "SCIM",
                                  "operations": ["post:/groups"]}, format="json")
    assert response.status_code == 201, response.json()
    assert SpecImport.objects.get(public_id=spec_import["id"]).status == "ready"


def test_real_refs_beside_the_data_are_still_checked() -> None:
    doc = base_doc()
    for name in PLACES:
        _place(name, doc)
    doc["components"]["schemas"]["Member"]["properties"]["$ref"] = {
        "$ref": "#/components/schemas/Nope"}
    with pytest.raises(oa.SpecError) as err:
        oa.parse_spec(json.dumps(doc))
    assert err.value.code == "unresolved_ref"
    assert "#/components/schemas/Nope" in err.value.message
    assert "/components/schemas/Member/properties/$ref/$ref" in err.value.message
    doc = base_doc()
    _place("example", doc)
    doc["components"]["examples"]["Group"] = {"$ref": "https://scim.example.com/example.json"}
    with pytest.raises(oa.SpecError) as err:  # an Example Object's own $ref is a reference
        oa.parse_spec(json.dumps(doc))
    assert err.value.code == "external_ref"
