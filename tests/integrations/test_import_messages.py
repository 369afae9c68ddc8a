"""Refusals name where and what: the JSON pointer (and line) of a bad ``$ref`` or of nesting too
deep, the ``$ref`` behind a bundled file that 404s; a raw body gets the same specific message as a
paste; an oversized body says its real size (or "over 25 MiB"), never the bytes read to the cap."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from integrations import openapi, services
from integrations.models import SpecImport
from tests.integrations.egress_support import Upstream
from tests.integrations.wizard_support import egress_to, serve

pytestmark = pytest.mark.django_db

OP = {"responses": {"200": {"description": "ok", "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/Pet"}}}}}}


def spec_with(ref: str) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
            "paths": {"/pets": {"get": {"responses": {"200": {
                "description": "ok",
                "content": {"application/json": {"schema": {"$ref": ref}}}}}}}},
            "components": {"schemas": {"Pet": {"type": "object"}}}}


POINTER = "/paths/~1pets/get/responses/200/content/application~1json/schema/$ref"


def imports_url(personas: Any) -> str:
    return f"/api/v1/workspaces/{personas.workspace.public_id}/integrations/imports/"


def refused(response: Any, code: str) -> str:
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body["code"] == code, body
    return body["detail"]


@pytest.mark.parametrize(("ref", "code", "words"), [
    ("https://example.com/pet.json", "external_ref", "external URL"),
    ("pet.json#/Pet", "external_ref", "another file"),
    ("#/components/schemas/Nope", "unresolved_ref", "does not point"),
])
def test_reference_errors_name_the_pointer(api, personas, ref, code, words):
    client = api(personas.admin)
    detail = refused(client.post(imports_url(personas), {"spec": json.dumps(spec_with(ref))},
                                 format="json"), code)
    assert words in detail and f"at {POINTER}" in detail  # old: no "at /paths/..."


def test_yaml_reference_errors_also_name_the_line(api, personas):
    text = ("openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /pets:\n    get:\n"
            "      responses:\n        '200':\n          description: ok\n"
            "          content:\n            application/json:\n              schema:\n"
            "                $ref: '#/components/schemas/Nope'\n")
    detail = refused(api(personas.admin).post(imports_url(personas), text,
                                              content_type="application/yaml"),
                     "unresolved_ref")
    assert detail.endswith(f"at {POINTER} (line 12).")


def test_several_unresolved_refs_name_the_first(api, personas):
    doc = spec_with("#/components/schemas/A")
    doc["components"]["schemas"]["Pet"] = {"$ref": "#/components/schemas/B"}
    with pytest.raises(openapi.SpecError) as err:
        openapi.parse_spec(json.dumps(doc))
    assert "2 references" in err.value.message
    assert f"The first is at {POINTER}." in err.value.message


def test_too_deep_names_the_pointer_or_the_line():
    shallow_json = '{"openapi":"3.0.0","x-deep":' + '{"a":' * 250 + "1" + "}" * 251
    with pytest.raises(openapi.SpecError) as err:
        openapi.load_document(shallow_json)
    assert err.value.code == "too_deep" and "at /x-deep/a/a/a" in err.value.message
    very_deep = '{"a":' * 100_000 + "1" + "}" * 100_000  # json.loads itself gives up
    with pytest.raises(openapi.SpecError) as err:
        openapi.load_document(very_deep)
    assert err.value.code == "too_deep" and "line 1, column 1001" in err.value.message
    yaml_text = "openapi: 3.0.0\nx-deep:\n" + "".join(
        "  " * (i + 1) + f"k{i}:\n" for i in range(250)) + "  " * 251 + "end: 1\n"
    with pytest.raises(openapi.SpecError) as err:
        openapi.load_document(yaml_text)
    assert err.value.code == "too_deep"
    assert "at /x-deep/k0/k1/k2" in err.value.message and "line 202" in err.value.message


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


def test_a_bundled_file_that_404s_names_the_ref(personas, upstream):
    root = spec_with("#/components/schemas/Pet")
    root["components"]["schemas"]["Pet"] = {"$ref": "models/pet.json#/Pet"}
    url = serve(upstream, "/split/openapi.json", json.dumps(root))
    serve(upstream, "/split/models/pet.json", b"{}", status=404)
    with egress_to(upstream):
        spec_import = services.start_url_import(personas.workspace, actor=personas.admin,
                                                url=url)
        services.run_import(spec_import.pk)
    spec_import.refresh_from_db()
    assert spec_import.status == "failed" and spec_import.error_code == "not_found"
    assert "/components/schemas/Pet/$ref" in spec_import.error_message  # old: not said
    assert "fetched for the $ref at" in spec_import.error_message


# ------------------------------------------------------------------ raw body = paste


ASYNCAPI = {"asyncapi": "2.6.0", "info": {"title": "events", "version": "1"}, "channels": {}}
SWAGGER_12 = {"swaggerVersion": "1.2", "apis": [{"path": "/pets"}]}
PLAIN = {"name": "my-package", "version": "1.0.0"}


@pytest.mark.parametrize(("label", "body", "code", "words"), [
    ("empty", "", "empty", "The spec is empty."),
    ("plain object", json.dumps(PLAIN), "not_openapi", "no 'openapi' or 'swagger' field"),
    ("AsyncAPI", json.dumps(ASYNCAPI), "not_openapi", "AsyncAPI"),
    ("Swagger 1.2", json.dumps(SWAGGER_12), "unsupported_version", "Swagger 1.2"),
    ("a JSON array", json.dumps([{"openapi": "3.0.0"}]), "not_object", "not a list"),
])
def test_raw_json_bodies_get_the_paste_message(api, personas, label, body, code, words):
    client = api(personas.admin)
    url = imports_url(personas)
    raw = refused(client.post(url, body, content_type="application/json"), code)
    pasted = refused(client.post(url, {"spec": body}, format="json"), code)
    assert words in raw and raw == pasted  # old: "Send either url or spec." / "Expected a..."
    assert "Send either" not in raw
    assert not SpecImport.objects.exists()


def test_the_envelope_still_works_and_still_needs_one_of_url_or_spec(api, personas):
    client = api(personas.admin)
    url = imports_url(personas)
    response = client.post(url, {"spec": json.dumps(spec_with("#/components/schemas/Pet"))},
                           format="json")
    assert response.status_code == 202
    response = client.post(url, {"url": "https://a.example.com/x.json", "spec": "x"},
                           format="json")
    assert response.status_code == 400 and "Send either url or spec." in str(response.json())


# ------------------------------------------------------------------ oversized bodies


def test_an_oversized_body_says_its_real_size(api, personas, monkeypatch):
    from integrations.api import views as api_views

    monkeypatch.setattr(api_views._SpecBodyParser, "limit", 1000)
    monkeypatch.setattr(openapi, "MAX_SPEC_BYTES", 800)
    client = api(personas.admin)
    body = json.dumps({"openapi": "3.0.0", "x": "y" * (3 * 1048576)})  # 3.0 MiB
    detail = refused(client.post(imports_url(personas), body, content_type="application/json"),
                     "too_large")
    assert "(3.0 MiB)" in detail  # old: "(0.0 MiB)", the 1001 bytes read before the cap


def test_an_oversized_body_without_a_length_says_over_the_cap(api, personas):
    from django.test import RequestFactory
    from rest_framework.request import Request

    from integrations.api import views as api_views

    parser = api_views.SpecJSONParser()
    stream = io.BytesIO(b" " * (api_views.MAX_IMPORT_BODY + 10))
    request = Request(RequestFactory().post("/", content_type="application/json"))
    request.META.pop("CONTENT_LENGTH", None)
    with pytest.raises(services.IntegrationError) as err:
        parser.parse(stream, "application/json", {"request": request})
    assert err.value.code == "too_large"
    assert "over 25 MiB" in str(err.value)  # old: "(37.5 MiB)", what was read
