"""integrations.openapi: loading, sanity pass, operations, extraction, bundling, validation."""

from __future__ import annotations

import copy
import json
import re
import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from integrations import openapi as oa
from integrations.openapi import SpecError

SHARED = Path(__file__).resolve().parents[3] / "shared"
if not SHARED.is_dir():
    SHARED = Path("/work/shared")
SPECS = SHARED / "specs"

pytestmark = pytest.mark.skipif(not SPECS.is_dir(), reason="shared spec corpus not found")

ORIGIN = "https://specs.test.invalid"


def _index_rows() -> dict[str, dict[str, str]]:
    """The "Real specs" table of specs/INDEX.md: file -> {version, ops, fmt}. The counts there
    were made with other tools (prance BaseParser and a plain count of method:path pairs)."""
    rows: dict[str, dict[str, str]] = {}
    for line in (SPECS / "INDEX.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 9 or not cells[0].startswith("`"):
            continue
        name = re.match(r"`([^`]+)`", cells[0])
        ops = re.sub(r"[*,]", "", cells[6])
        if name and ops.isdigit():
            rows[name.group(1)] = {"fmt": cells[3], "version": cells[4], "ops": ops}
    return rows


INDEX = _index_rows() if SPECS.is_dir() else {}
SINGLE = sorted(n for n in INDEX if "/" not in n)
MULTI = sorted(n for n in INDEX if "/" in n)


def local_fetch(folder: Path, calls: list[str] | None = None) -> Callable[[str], bytes]:
    """Serve ``folder`` as ``ORIGIN`` (what the egress client will do for a real URL)."""
    root = folder.resolve()

    def fetch(url: str) -> bytes:
        if calls is not None:
            calls.append(url)
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == ORIGIN, url
        path = (root / unquote(parts.path).lstrip("/")).resolve()
        assert root in path.parents, url
        return path.read_bytes()

    return fetch


def spec_text(**extra: object) -> str:
    doc: dict[str, object] = {
        "openapi": "3.0.3",
        "info": {"title": "T", "version": "1"},
        "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}},
    }
    doc.update(extra)
    return json.dumps(doc)


@pytest.fixture(scope="module")
def parsed() -> Callable[[str], oa.ParsedSpec]:
    """Parse each shared spec at most once per module (the big ones take a moment)."""
    cache: dict[str, oa.ParsedSpec] = {}

    def get(name: str) -> oa.ParsedSpec:
        if name not in cache:
            cache[name] = oa.parse_spec((SPECS / name).read_bytes())
        return cache[name]

    return get


@pytest.fixture(scope="module")
def digitalocean() -> oa.ParsedSpec:
    folder = SPECS / "digitalocean-3.0-multifile"
    url = f"{ORIGIN}/DigitalOcean-public.v2.yaml"
    fetch = local_fetch(folder)
    return oa.parse_spec(fetch(url), source_url=url, fetch=fetch, max_files=5000)


# ------------------------------------------------------------------------- the real corpus


def test_index_lists_the_corpus() -> None:
    assert len(SINGLE) >= 15 and len(MULTI) >= 2
    assert INDEX["stripe-2022-04-3.0.json"]["ops"] == "417"


@pytest.mark.parametrize("name", SINGLE)
def test_every_real_spec_parses_with_the_right_operation_count(
    name: str, parsed: Callable[[str], oa.ParsedSpec]
) -> None:
    spec = parsed(name)
    assert len(spec.operations) == int(INDEX[name]["ops"])
    assert spec.info.operation_count == len(spec.operations)
    assert spec.info.spec_version == INDEX[name]["version"]
    keys = [op.key for op in spec.operations]
    assert len(set(keys)) == len(keys)
    for op in spec.operations:
        assert op.key == f"{op.method}:{op.path}" and op.method == op.method.lower()
        assert op.path.startswith("/")
    json.dumps(spec.doc, allow_nan=False)  # plain JSON data (YAML timestamps became strings)


def test_operation_list_of_a_big_yaml_spec_needs_no_validation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The operation list is built by the C loader and the sanity pass alone; validation (the
    slow part) runs later, in the worker. Speed itself is measured by bench/spec_import.py."""
    import yaml

    assert issubclass(oa._SpecLoader, yaml.CSafeLoader)  # libyaml, not the pure-Python loader

    def no_validation(*args: object, **kwargs: object) -> None:
        raise AssertionError("parse_spec must not validate")

    monkeypatch.setattr(oa, "validate", no_validation)
    spec = oa.parse_spec((SPECS / "openai-3.1.yaml").read_bytes())
    assert len(spec.operations) == 288


def test_operations_without_operation_id_are_keyed_by_method_and_path(
    parsed: Callable[[str], oa.ParsedSpec],
) -> None:
    spec = parsed("oai-uber-2.0.json")
    op = spec.operation("get:/products")
    assert op is not None and op.operation_id is None
    assert op.summary == "Product Types" and op.tags == ["Products"]
    assert {p["name"] for p in op.parameters} == {"latitude", "longitude"}


def test_spec_info(parsed: Callable[[str], oa.ParsedSpec]) -> None:
    info = parsed("swagger-petstore3-3.0.yaml").info
    assert info.title.startswith("Swagger Petstore")
    assert (info.spec_family, info.spec_version, info.operation_count) == ("3.0", "3.0.4", 19)
    assert parsed("oai-petstore-2.0.json").info.spec_label == "Swagger 2.0"
    assert parsed("openai-3.1.yaml").info.spec_family == "3.1"


def test_missing_paths_is_fine_for_a_31_webhook_only_spec(
    parsed: Callable[[str], oa.ParsedSpec],
) -> None:
    spec = parsed("oai-webhook-example-3.1.yaml")
    assert "paths" not in spec.doc and "webhooks" in spec.doc
    assert spec.operations == [] and spec.info.operation_count == 0
    assert oa.extract_operations(spec.doc, [])["paths"] == {}
    assert oa.validate(spec.doc) == []


def test_integer_keys_become_strings(parsed: Callable[[str], oa.ParsedSpec]) -> None:
    doc = oa.load_document(
        "openapi: 3.0.0\ninfo: {title: t, version: 1.0}\npaths:\n  /a:\n    get:\n"
        "      responses:\n        200: {description: ok}\n        default: {description: e}\n"
        "x-flags: {true: 1, null: 2, 1.5: 3}\n"
    )
    assert list(doc["paths"]["/a"]["get"]["responses"]) == ["200", "default"]
    assert doc["x-flags"] == {"true": 1, "null": 2, "1.5": 3}
    asana = parsed("asana-3.0.yaml").doc
    op = next(iter(asana["paths"].values()))
    method = next(m for m in op if m in oa.METHODS_V3)
    assert all(isinstance(code, str) for code in op[method]["responses"])
    assert oa.validate(oa.extract_operations(asana, ["get:/attachments/{attachment_gid}"])) == []


def test_a_key_given_as_number_and_as_string_is_refused() -> None:
    with pytest.raises(SpecError) as err:
        oa.load_document("openapi: 3.0.0\nx:\n  200: a\n  '200': b\n")
    assert err.value.code == "duplicate_key"


def test_yaml_timestamps_stay_strings() -> None:
    doc = oa.load_document("openapi: 3.0.0\ninfo: {title: t, version: 2024-01-02}\nx: 12:30\n")
    assert doc["info"]["version"] == "2024-01-02"
    json.dumps(doc)


# ------------------------------------------------------------------------- refusals


BROKEN = {
    "empty.json": "empty",
    "invalid-json-truncated.json": "not_json_or_yaml",
    "invalid-yaml-syntax.yaml": "not_json_or_yaml",
    "missing-ref-component-3.0.yaml": "unresolved_ref",
    "not-a-spec-array.json": "not_object",
    "not-a-spec-object.json": "not_openapi",
    "not-openapi-asyncapi-slack-events.json": "not_openapi",
    "schema-invalid-3.0.json": "invalid_path",
    "swagger-1.2-unsupported.json": "unsupported_version",
    "unsupported-version-4.0.json": "unsupported_version",
}


def test_every_broken_file_is_covered() -> None:
    assert {p.name for p in (SPECS / "broken").iterdir()} == set(BROKEN)


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_specs_are_refused_with_a_clear_message(name: str) -> None:
    data = (SPECS / "broken" / name).read_bytes()
    with pytest.raises(SpecError) as err:
        oa.parse_spec(data)
    assert err.value.code == BROKEN[name]
    message = err.value.message
    assert 10 < len(message) < 300 and "\n" not in message
    if name.startswith("invalid-"):
        assert re.search(r"line \d+, column \d+", message), message
    if name == "invalid-json-truncated.json":
        assert message.startswith("Not valid JSON: line")
    if name == "invalid-yaml-syntax.yaml":
        assert message.startswith("Not valid YAML: line")
    if name == "missing-ref-component-3.0.yaml":
        assert "#/components/schemas/DoesNotExist" in message
        assert "#/components/schemas/PetList" in message
    if name == "not-openapi-asyncapi-slack-events.json":
        assert "AsyncAPI" in message


def test_too_large_is_refused_before_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("an oversized spec must be refused before it is parsed")

    monkeypatch.setattr(oa, "_load_json", no_parsing)
    monkeypatch.setattr(oa, "_load_yaml", no_parsing)
    data = b" " * (oa.MAX_SPEC_BYTES + 1)
    with pytest.raises(SpecError) as err:
        oa.parse_spec(data)
    assert err.value.code == "too_large"
    assert "25 MiB" in err.value.message
    with pytest.raises(SpecError) as err:
        oa.parse_spec("é" * (oa.MAX_SPEC_BYTES // 2 + 1))  # 2 bytes each in UTF-8
    assert err.value.code == "too_large"


def test_cap_is_at_least_25_mib() -> None:
    assert oa.MAX_SPEC_BYTES >= 25 * 1024 * 1024


BOMB = """openapi: 3.0.0
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
"""


def test_yaml_alias_bomb_is_refused_cheaply() -> None:
    with pytest.raises(SpecError) as err:
        oa.parse_spec(BOMB)
    assert err.value.code == "yaml_alias"
    # stopped at the first anchor (line 2), before any alias could expand anything
    assert "&a at line 2, column 4" in err.value.message


def test_even_a_single_alias_is_refused() -> None:
    with pytest.raises(SpecError) as err:
        oa.load_document("openapi: 3.0.0\nx: &x {a: 1}\ny: *x\n")
    assert err.value.code == "yaml_alias"


@pytest.mark.parametrize("text", [
    "openapi: 3.0.0\ninfo: &i {title: x, version: '1'}\npaths: {}\n",  # mapping
    "openapi: 3.0.0\ntags: &t [a]\npaths: {}\n",  # sequence
    "openapi: 3.0.0\nx: &s plain\npaths: {}\n",  # scalar
    "openapi: 3.0.0\nx: !!set {&k a: null}\npaths: {}\n",  # inside what the slow path builds
])
def test_anchors_are_refused_too(text: str) -> None:
    with pytest.raises(SpecError) as err:
        oa.load_document(text)
    assert err.value.code == "yaml_alias"
    assert "anchors and aliases are not allowed (&" in err.value.message
    assert "at line " in err.value.message


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        '{"a":' * 50_000,
        "a: " + "[" * 100_000,
        "".join(" " * i + f"k{i}:\n" for i in range(oa.MAX_DEPTH + 5)),
    ],
)
def test_deep_nesting_is_refused(text: str) -> None:
    with pytest.raises(SpecError) as err:
        oa.load_document(text)
    assert err.value.code in ("too_deep", "not_json_or_yaml", "too_many_nodes")


def test_node_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oa, "MAX_NODES", 1000)
    monkeypatch.setattr(oa, "MAX_YAML_NODES", 1000)
    with pytest.raises(SpecError) as err:
        oa.load_document(json.dumps({"openapi": "3.0.0", "x": list(range(2000))}))
    assert err.value.code == "too_many_nodes"
    with pytest.raises(SpecError) as err:
        oa.load_document("openapi: 3.0.0\nx:\n" + "- 1\n" * 2000)
    assert err.value.code == "too_many_nodes"


def test_caps_are_generous_enough_for_the_13mb_spec(
    parsed: Callable[[str], oa.ParsedSpec],
) -> None:
    assert oa.MAX_NODES >= 2 * 381_000 and oa.MAX_DEPTH >= 2 * 63
    assert len(parsed("box-3.0.deref.json").operations) == 296


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("http://169.254.169.254/latest/meta-data", "external URL"),
        ("https://example.com/schemas.json#/Pet", "external URL"),
        ("file:///etc/passwd", "external URL"),
        ("Pet.json", "another file: Pet.json"),
        ("../common/Error.json#/x", "another file"),
    ],
)
def test_external_refs_are_refused(ref: str, expected: str) -> None:
    text = spec_text(components={"schemas": {"X": {"$ref": ref}}})
    with pytest.raises(SpecError) as err:
        oa.parse_spec(text)
    assert err.value.code == "external_ref"
    assert expected in err.value.message
    if "file" in expected:
        assert err.value.message.startswith("Pasted specs must be one document")


def test_find_external_refs() -> None:
    doc = json.loads(spec_text(components={"schemas": {"X": {"$ref": "a.json#/b"}}}))
    doc["paths"]["/a"]["get"]["responses"]["404"] = {"$ref": "#/components/responses/E"}
    assert oa.find_external_refs(doc) == {"a.json#/b"}


@pytest.mark.parametrize(
    "schemas",
    [
        {"A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"}},
        {"A": {"$ref": "#/components/schemas/A"}},
        {
            "A": {"$ref": "#/components/schemas/B"},
            "B": {"$ref": "#/components/schemas/C"},
            "C": {"$ref": "#/components/schemas/B"},
        },
    ],
)
def test_ref_loops_are_refused(schemas: dict[str, object]) -> None:
    with pytest.raises(SpecError) as err:
        oa.parse_spec(spec_text(components={"schemas": schemas}))
    assert err.value.code == "ref_loop"
    assert "->" in err.value.message


def test_recursive_schemas_are_not_loops(parsed: Callable[[str], oa.ParsedSpec]) -> None:
    text = spec_text(
        components={
            "schemas": {
                "Node": {
                    "type": "object",
                    "properties": {"children": {"$ref": "#/components/schemas/Nodes"}},
                },
                "Nodes": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            }
        }
    )
    assert len(oa.parse_spec(text).operations) == 1
    assert len(parsed("stripe-2022-04-3.0.json").operations) == 417  # 92 back-edges


def test_json_pointer_escapes_are_resolved() -> None:
    doc = json.loads(spec_text())
    doc["paths"]["/a/{id}"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    doc["components"] = {
        "responses": {
            "R": {"$ref": "#/paths/~1a~1%7Bid%7D/get/responses/200"},
            "S": {"$ref": "#/paths/~1a~1{id}/get/responses/200"},
            "T": {"$ref": "#/x-t~0/0"},
        }
    }
    doc["x-t~"] = [{"description": "tilde"}]
    assert len(oa.parse_document(doc).operations) == 2
    doc["components"]["responses"]["U"] = {"$ref": "#/paths/~1a/get/responses/404"}
    with pytest.raises(SpecError) as err:
        oa.parse_document(doc)
    assert err.value.code == "unresolved_ref" and "~1a/get/responses/404" in err.value.message


def test_versions() -> None:
    assert oa.spec_family({"swagger": "2.0"}) == ("2.0", "2.0")
    assert oa.spec_family({"openapi": "3.0.3"}) == ("3.0", "3.0.3")
    assert oa.spec_family({"openapi": "3.1.1"}) == ("3.1", "3.1.1")
    for doc in ({"openapi": "3.2.0"}, {"openapi": "2.0"}, {"swagger": "1.2"}):
        with pytest.raises(SpecError) as err:
            oa.spec_family(doc)
        assert err.value.code == "unsupported_version"


def test_parameter_in_body_is_refused_in_openapi_3() -> None:
    text = spec_text(
        paths={"/a": {"post": {"parameters": [{"name": "b", "in": "body"}], "responses": {}}}}
    )
    with pytest.raises(SpecError) as err:
        oa.parse_spec(text)
    assert err.value.code == "invalid_parameter" and "requestBody" in err.value.message


@pytest.mark.parametrize("path", ["/a b", "/a\nb", "/a\tb", "/a\x00"])
def test_paths_with_whitespace_or_control_characters_are_refused(path: str) -> None:
    text = spec_text(paths={path: {"get": {"responses": {}}}})
    with pytest.raises(SpecError) as err:
        oa.parse_spec(text)
    # a NUL is refused before the paths are read (PostgreSQL can't store it), naming the key
    code = "not_json_or_yaml" if "\x00" in path else "invalid_path"
    assert err.value.code == code and json.dumps(path) in err.value.message


def test_not_utf8_and_plain_text() -> None:
    with pytest.raises(SpecError) as err:
        oa.parse_spec(b"\xff\xfe\x00" + b"\xff" * 10)
    assert err.value.code == "not_json_or_yaml"
    with pytest.raises(SpecError) as err:
        oa.parse_spec("<html><body>404 Not Found</body></html>")
    assert err.value.code == "not_json_or_yaml" and "HTML" in err.value.message


def test_json_with_a_trailing_comma_is_read_leniently() -> None:
    assert len(oa.parse_spec(spec_text()[:-1] + ",}").operations) == 1


# ------------------------------------------------------------------------- operations


def test_path_level_parameters_are_merged_and_refs_followed() -> None:
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/items/{id}": {"$ref": "#/components/pathItems/Item"},
            "/other": {"get": {"$ref": "#/x-ops/get-other"}},
        },
        "components": {
            "parameters": {
                "Id": {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                "Verbose": {"name": "verbose", "in": "query", "schema": {"type": "boolean"}},
            },
            "pathItems": {
                "Item": {
                    "parameters": [
                        {"$ref": "#/components/parameters/Id"},
                        {"$ref": "#/components/parameters/Verbose"},
                    ],
                    "get": {"operationId": "getItem", "responses": {}},
                    "delete": {
                        "deprecated": True,
                        "parameters": [
                            {"name": "verbose", "in": "query", "schema": {"type": "integer"}}
                        ],
                        "responses": {},
                    },
                }
            },
        },
        "x-ops": {"get-other": {"summary": "Other", "responses": {}}},
    }
    ops = {op.key: op for op in oa.parse_document(doc).operations}
    assert list(ops) == ["get:/items/{id}", "delete:/items/{id}", "get:/other"]
    assert ops["get:/items/{id}"].operation_id == "getItem"
    assert [p["name"] for p in ops["get:/items/{id}"].parameters] == ["id", "verbose"]
    delete = ops["delete:/items/{id}"]
    assert delete.deprecated
    assert {p["name"]: p["schema"]["type"] for p in delete.parameters} == {
        "id": "string",
        "verbose": "integer",
    }
    assert ops["get:/other"].summary == "Other"


# ------------------------------------------------------------------------- base URL


def test_default_base_url_swagger(parsed: Callable[[str], oa.ParsedSpec]) -> None:
    assert oa.default_base_url(parsed("oai-petstore-2.0.json").doc) == (
        "http://petstore.swagger.io/v1"
    )
    assert oa.default_base_url(parsed("oai-uber-2.0.json").doc) == "https://api.uber.com/v1"
    assert oa.default_base_url(parsed("slack-web-2.0.json").doc) == "https://slack.com/api"
    doc = {"swagger": "2.0", "basePath": "/v2", "schemes": ["http", "https"]}
    assert oa.default_base_url(doc) == "/v2"
    assert oa.default_base_url(doc, "http://api.example.com/spec.json") == (
        "https://api.example.com/v2"
    )


def test_default_base_url_openapi3(parsed: Callable[[str], oa.ParsedSpec]) -> None:
    uspto = parsed("oai-uspto-3.0.yaml").doc
    assert oa.default_base_url(uspto) == "https://developer.uspto.gov/ds-api"
    assert oa.default_base_url(parsed("swagger-petstore3-3.0.yaml").doc) == (
        "https://petstore3.swagger.io/api/v3"
    )
    assert oa.default_base_url(parsed("oai-link-example-3.0.yaml").doc) is None
    assert oa.default_base_url(
        parsed("oai-link-example-3.0.yaml").doc, "https://api.example.com/docs/openapi.yaml"
    ) == ("https://api.example.com")
    doc = {
        "openapi": "3.0.0",
        "servers": [
            {
                "url": "https://{tenant}.example.com:{port}/{base}/",
                "variables": {
                    "tenant": {"default": "acme"},
                    "port": {"enum": ["8443", "443"], "default": "8443"},
                    "base": {"default": "v2"},
                },
            }
        ],
    }
    assert oa.default_base_url(doc) == "https://acme.example.com:8443/v2"
    relative = {"openapi": "3.1.0", "servers": [{"url": "/api/v3"}]}
    assert oa.default_base_url(relative, "https://shop.example/openapi.json") == (
        "https://shop.example/api/v3"
    )


def test_per_path_servers(parsed: Callable[[str], oa.ParsedSpec]) -> None:
    doc = parsed("twilio-messaging-v1-3.0.yaml").doc
    key = parsed("twilio-messaging-v1-3.0.yaml").operations[0].key
    assert oa.operation_base_url(doc, key) == "https://messaging.twilio.com"


# ------------------------------------------------------------------------- extraction


CLOSURE_DOC = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "security": [],
    "paths": {
        "/pets": {
            "parameters": [{"$ref": "#/components/parameters/Limit"}],
            "get": {
                "security": [{"key": []}],
                "responses": {"200": {"$ref": "#/components/responses/Pets"}},
            },
            "post": {"responses": {"201": {"description": "x"}}},
        },
        "/owners": {"get": {"responses": {"200": {"$ref": "#/components/responses/Owners"}}}},
    },
    "components": {
        "parameters": {
            "Limit": {"name": "limit", "in": "query", "schema": {"$ref": "#/components/schemas/N"}}
        },
        "responses": {
            "Pets": {
                "description": "ok",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pets"}}},
            },
            "Owners": {"description": "ok"},
        },
        "schemas": {
            "N": {"type": "integer"},
            "Pets": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}},
            "Pet": {
                "type": "object",
                "properties": {
                    "owner": {"$ref": "#/components/schemas/Owner"},
                    "tags": {"$ref": "#/x-shared/0"},
                },
            },
            "Owner": {
                "type": "object",
                "properties": {"pet": {"$ref": "#/components/schemas/Pet"}},
            },
            "Unrelated": {"type": "string"},
        },
        "securitySchemes": {
            "key": {"type": "apiKey", "in": "header", "name": "X-Key"},
            "other": {"type": "http", "scheme": "basic"},
        },
    },
    "x-shared": [{"type": "array"}, {"type": "null"}],
}


def test_extract_operations_keeps_exactly_the_closure() -> None:
    doc = copy.deepcopy(CLOSURE_DOC)
    before = json.dumps(doc, sort_keys=True)
    sub = oa.extract_operations(doc, ["get:/pets"])
    assert json.dumps(doc, sort_keys=True) == before  # the source is not modified
    assert list(sub["paths"]) == ["/pets"]
    assert set(sub["paths"]["/pets"]) == {"parameters", "get"}
    components = sub["components"]
    assert set(components["schemas"]) == {"N", "Pets", "Pet", "Owner"}
    assert set(components["responses"]) == {"Pets"}
    assert set(components["parameters"]) == {"Limit"}
    assert set(components["securitySchemes"]) == {"key"}
    assert sub["x-shared"] == doc["x-shared"]  # a pointer into an array keeps the array
    assert sub[oa.EXTRACT_KEY] == {"operations": ["get:/pets"]}
    assert oa.check_document(sub) == "3.0"  # every ref of the sub-document resolves
    assert [op.key for op in oa.list_operations(sub)] == ["get:/pets"]


def test_extract_operations_of_real_specs(parsed: Callable[[str], oa.ParsedSpec]) -> None:
    openai = parsed("openai-3.1.yaml").doc
    sub = oa.extract_operations(openai, ["post:/chat/completions"])
    schemas = sub["components"]["schemas"]
    assert "CreateChatCompletionRequest" in schemas
    assert "CreateEmbeddingRequest" not in schemas
    assert len(schemas) < len(openai["components"]["schemas"]) / 5
    oa.check_document(sub)
    stripe = parsed("stripe-2022-04-3.0.json")
    keys = [op.key for op in stripe.operations[:30]]
    sub = oa.extract_operations(stripe.doc, keys)  # speed: bench/spec_import.py (< 50 ms)
    assert [op.key for op in oa.list_operations(sub)] == keys
    oa.check_document(sub)
    json.dumps(sub)


def test_extract_operations_limits() -> None:
    with pytest.raises(SpecError) as err:
        oa.extract_operations(CLOSURE_DOC, ["get:/nope"])
    assert err.value.code == "unknown_operation"
    with pytest.raises(SpecError) as err:
        oa.extract_operations(CLOSURE_DOC, [f"get:/{i}" for i in range(31)])
    assert err.value.code == "too_many_operations"


def test_operation_schemas_openapi3() -> None:
    doc = copy.deepcopy(CLOSURE_DOC)
    doc["paths"]["/pets"]["post"] = {
        "parameters": [
            {"name": "X-Trace", "in": "header", "required": True, "schema": {"type": "string"}},
            {"name": "sid", "in": "cookie", "schema": {"type": "string"}},
        ],
        "requestBody": {"$ref": "#/components/requestBodies/NewPet"},
        "responses": {},
    }
    doc["components"]["requestBodies"] = {
        "NewPet": {
            "required": True,
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}},
            },
        }
    }
    sub = oa.extract_operations(doc, ["post:/pets"])
    schemas = oa.operation_schemas(sub, "post:/pets")
    assert [p.name for p in schemas.query_params] == ["limit"]
    assert schemas.query_params[0].schema == {"$ref": "#/components/schemas/N"}
    assert [(p.name, p.required) for p in schemas.header_params] == [("X-Trace", True)]
    assert [p.name for p in schemas.cookie_params] == ["sid"]
    body = schemas.body
    assert body is not None and body.required and body.content_type == "application/json"
    assert body.content_types == ["text/plain", "application/json"]
    assert body.schema == {"$ref": "#/components/schemas/Pet"}
    validator = schemas.validator(body)
    assert list(validator.iter_errors({"owner": {"pet": {}}, "tags": []})) == []
    errors = list(validator.iter_errors({"owner": {"pet": {"tags": 5}}}))
    assert errors and "is not of type 'array'" in errors[0].message
    limit = schemas.validator(schemas.query_params[0])
    assert list(limit.iter_errors(3)) == [] and list(limit.iter_errors("3"))


def test_operation_schemas_swagger_body_and_form_data() -> None:
    doc = {
        "swagger": "2.0",
        "info": {"title": "t", "version": "1"},
        "consumes": ["application/json"],
        "paths": {
            "/pets/{id}": {
                "parameters": [{"name": "id", "in": "path", "type": "integer"}],
                "put": {
                    "parameters": [
                        {"name": "pet", "in": "body", "schema": {"$ref": "#/definitions/Pet"}},
                        {"name": "q", "in": "query", "type": "array", "items": {"type": "string"}},
                    ],
                    "responses": {"200": {"description": "ok"}},
                },
                "post": {
                    "consumes": ["multipart/form-data"],
                    "parameters": [
                        {"name": "name", "in": "formData", "type": "string", "required": True},
                        {"name": "photo", "in": "formData", "type": "file"},
                    ],
                    "responses": {"200": {"description": "ok"}},
                },
            }
        },
        "definitions": {"Pet": {"type": "object", "required": ["name"]}},
    }
    spec = oa.parse_document(doc)
    sub = oa.extract_operations(spec.doc, ["put:/pets/{id}", "post:/pets/{id}"])
    put = oa.operation_schemas(sub, "put:/pets/{id}")
    assert [(p.name, p.required, p.schema) for p in put.path_params] == [
        ("id", True, {"type": "integer"})
    ]
    assert put.query_params[0].schema == {"type": "array", "items": {"type": "string"}}
    assert put.body is not None and put.body.content_type == "application/json"
    assert list(put.validator(put.body).iter_errors({}))  # "name" is required
    post = oa.operation_schemas(sub, "post:/pets/{id}")
    assert post.body is not None and post.body.content_type == "multipart/form-data"
    assert post.body.schema["required"] == ["name"]
    assert post.body.schema["properties"]["photo"] == {"type": "string", "format": "binary"}


# ------------------------------------------------------------------------- diff


def test_diff_operations() -> None:
    old = copy.deepcopy(CLOSURE_DOC)
    new = copy.deepcopy(CLOSURE_DOC)
    assert not oa.diff_operations(old, new, ["get:/pets"]).has_changes
    new["components"]["schemas"]["Owner"]["properties"]["name"] = {"type": "string"}
    del new["paths"]["/owners"]
    new["paths"]["/vets"] = {"get": {"responses": {}}}
    diff = oa.diff_operations(old, new, ["get:/pets", "post:/pets", "get:/owners"])
    assert diff.added == ["get:/vets"]
    assert diff.removed == ["get:/owners"]
    assert diff.changed == ["get:/pets"]  # via Pets -> Pet -> Owner
    assert diff.affected_selected == ["get:/pets", "get:/owners"]
    assert not diff.partial


def test_diff_against_a_stored_sub_document() -> None:
    old = oa.extract_operations(copy.deepcopy(CLOSURE_DOC), ["get:/pets", "post:/pets"])
    new = copy.deepcopy(CLOSURE_DOC)
    diff = oa.diff_operations(old, new, ["get:/pets", "post:/pets"])
    assert diff.partial and not diff.has_changes
    new["components"]["parameters"]["Limit"]["schema"] = {"type": "string"}
    new["paths"]["/pets"]["post"]["summary"] = "changed"
    diff = oa.diff_operations(old, new, ["get:/pets", "post:/pets"])
    assert diff.changed == ["get:/pets", "post:/pets"]  # the path-level parameter changed
    assert diff.added == [] and diff.removed == []


# ------------------------------------------------------------------------- bundling


def test_bundle_petstore_separate() -> None:
    folder = SPECS / "oai-petstore-separate-2.0"
    url = f"{ORIGIN}/spec/swagger.json"
    calls: list[str] = []
    fetch = local_fetch(folder, calls)
    root = oa.load_document(fetch(url))
    with pytest.raises(SpecError) as err:
        oa.parse_document(root)
    assert err.value.code == "external_ref" and "another file" in err.value.message
    refs = oa.find_external_refs(root)
    assert "Pet.json" in refs and "../common/Error.json" in refs
    before = json.dumps(root, sort_keys=True)
    bundled = oa.bundle(root, url, fetch)
    assert json.dumps(root, sort_keys=True) == before
    assert oa.find_external_refs(bundled) == set()
    assert set(bundled[oa.BUNDLE_KEY]) == {
        "Pet.json",
        "NewPet.json",
        "parameters.json",
        "../common/Error.json",
    }
    spec = oa.parse_document(bundled)
    assert len(spec.operations) == int(INDEX["oai-petstore-separate-2.0/spec/swagger.json"]["ops"])
    find = spec.operation("get:/pets")
    assert find is not None and [p["name"] for p in find.parameters] == ["tags", "limit"]
    assert oa.validate(bundled) == []
    assert len(calls) == 1 + 4
    sub = oa.extract_operations(bundled, ["post:/pets"])
    body = oa.operation_schemas(sub, "post:/pets").body
    assert body is not None and body.schema == {"$ref": "#/x-bundled/NewPet.json"}


def test_bundle_digitalocean(digitalocean: oa.ParsedSpec) -> None:
    doc = digitalocean.doc
    assert len(digitalocean.operations) == int(
        INDEX["digitalocean-3.0-multifile/DigitalOcean-public.v2.yaml"]["ops"]
    )
    assert oa.find_external_refs(doc) == set()
    tags = {t["name"]: t for t in doc["tags"]}
    intro = tags["Public APIs Introduction"]["description"]  # was a $ref to a string
    assert isinstance(intro, str) and intro.startswith("The DigitalOcean API")
    op = digitalocean.operation("get:/v2/droplets/{droplet_id}")
    assert op is not None and op.operation_id == "droplets_get"
    assert [p["name"] for p in op.parameters] == ["droplet_id"]
    assert "$ref" not in doc["paths"]["/v2/droplets/{droplet_id}"]["get"]  # inlined
    json.dumps(doc, allow_nan=False)
    keys = [o.key for o in digitalocean.operations[:30]]
    sub = oa.extract_operations(doc, keys)
    oa.check_document(sub)
    assert len(json.dumps(sub)) < len(json.dumps(doc)) / 5


def test_bundle_refuses_other_origins_and_limits() -> None:
    folder = SPECS / "oai-petstore-separate-2.0"
    url = f"{ORIGIN}/spec/swagger.json"
    fetch = local_fetch(folder)
    root = oa.load_document(fetch(url))
    with pytest.raises(SpecError) as err:
        oa.bundle(root, url, fetch, max_files=3)
    assert err.value.code == "too_many_files"
    with pytest.raises(SpecError) as err:
        oa.bundle(root, url, fetch, max_total_bytes=1000)
    assert err.value.code == "too_large"
    for evil in (
        "https://evil.example/Pet.json",
        "http://specs.test.invalid/Pet.json",  # other scheme
        "https://specs.test.invalid:8443/Pet.json",  # other port
        "file:///etc/passwd",
    ):
        doc = copy.deepcopy(root)
        doc["definitions"] = {"X": {"$ref": evil}}
        with pytest.raises(SpecError) as err:
            oa.bundle(doc, url, fetch)
        assert err.value.code == "external_ref", evil

    def failing(url: str) -> bytes:
        raise OSError("connection refused")

    with pytest.raises(SpecError) as err:
        oa.bundle(root, url, failing)
    assert err.value.code == "fetch_failed" and "connection refused" in err.value.message


def test_parse_spec_bundles_when_given_a_fetcher() -> None:
    folder = SPECS / "oai-petstore-separate-2.0"
    url = f"{ORIGIN}/spec/swagger.json"
    fetch = local_fetch(folder)
    spec = oa.parse_spec(fetch(url), source_url=url, fetch=fetch)
    assert len(spec.operations) == 4
    with pytest.raises(SpecError) as err:
        oa.parse_spec(fetch(url))
    assert err.value.code == "external_ref"


# ------------------------------------------------------------------------- validation


def test_validation_findings_are_short_warnings(parsed: Callable[[str], oa.ParsedSpec]) -> None:
    findings = oa.validate(parsed("slack-web-2.0.json").doc)
    assert 5 <= len(findings) <= oa.MAX_FINDINGS + 1
    for finding in findings:
        assert finding.level == "warning"
        assert 0 < len(finding.message) <= oa.MAX_FINDING_CHARS
    located = [f for f in findings if f.path.startswith("/paths/")]
    assert located, findings


def test_validation_of_valid_specs(parsed: Callable[[str], oa.ParsedSpec]) -> None:
    for name in ("oai-petstore-3.0.yaml", "oai-petstore-2.0.json", "redocly-museum-3.1.yaml"):
        assert oa.validate(parsed(name).doc) == [], name


def test_validation_reports_problems_and_limits() -> None:
    doc = json.loads(spec_text())
    doc["paths"]["/a"]["get"]["operationId"] = "x"
    doc["paths"]["/b"] = {"get": {"operationId": "x", "responses": {}}}
    doc["paths"]["/c/{id}"] = {"get": {"responses": {}}}
    doc["info"] = {"title": 5}
    findings = oa.validate(doc)
    messages = " | ".join(f.message for f in findings)
    assert "not unique" in messages and "was not resolved" in messages
    assert any(f.path == "/paths/~1c~1{id}/get" for f in findings)
    assert len(oa.validate(doc, max_findings=1)) == 2  # one + "stopped after"


def test_validate_never_raises_and_never_fetches(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("validation tried to open a connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    for ref in ("http://127.0.0.1:9/x.json", "file:///etc/passwd", "other.json"):
        doc = json.loads(spec_text())
        doc["paths"]["/a"]["get"]["responses"]["200"] = {"$ref": ref}
        findings = oa.validate(doc)  # unchecked doc: refused by the resolver, not fetched
        assert findings and all(len(f.message) <= oa.MAX_FINDING_CHARS for f in findings)
    assert oa.validate({"openapi": "9"})[0].code == "unsupported_version"
    assert oa.validate({"openapi": "3.0.0", "paths": []})  # nonsense, but no exception


def test_validation_timeout(parsed: Callable[[str], oa.ParsedSpec]) -> None:
    findings = oa.validate(parsed("twilio-api-v2010-3.0.json").doc, timeout=0.01)
    assert findings[-1].code == "timeout"


@pytest.mark.parametrize("name", [
    "oai-petstore-2.0.json", "oai-uber-2.0.json", "oai-petstore-3.0.yaml",
    "oai-uspto-3.0.yaml", "oai-link-example-3.0.yaml", "redocly-museum-3.1.yaml",
    "swagger-petstore3-3.0.yaml", "slack-web-2.0.json", "box-3.0.json",
])
def test_validation_agrees_with_prance(name: str, parsed: Callable[[str], oa.ParsedSpec]) -> None:
    """``validate`` runs the backend prance uses (openapi-spec-validator) on the checked
    document; prance's own verdict on the file is the same, and its one error is among ours."""
    import prance

    prance_error = None
    try:
        prance.BaseParser(url=str(SPECS / name), backend="openapi-spec-validator", strict=False)
    except Exception as exc:  # prance.ValidationError
        prance_error = str(exc.args[0] if exc.args else exc)
    findings = oa.validate(parsed(name).doc)
    assert not any(f.code in ("timeout", "error") for f in findings)
    assert bool(findings) == (prance_error is not None), (prance_error, findings[:3])
    if prance_error is not None:
        assert any(prance_error[:80] in f.message for f in findings), prance_error


def test_resolve_ref_is_lenient() -> None:
    doc = {"components": {"schemas": {"a/b": {"type": "string"}, "L": [{"x": 1}]}}}
    assert oa.resolve_ref(doc, "#/components/schemas/a~1b") == {"type": "string"}
    assert oa.resolve_ref(doc, "#/components/schemas/L/0") == {"x": 1}
    assert oa.resolve_ref(doc, "#") is doc
    for ref in ("#/components/missing", "#/components/schemas/L/7", "other.yaml#/x", "#x"):
        assert oa.resolve_ref(doc, ref) is None


def test_an_operation_without_a_summary_gets_its_descriptions_first_sentence() -> None:
    from integrations.openapi import list_operations

    doc = {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {
        "/v1/account": {
            "get": {"description": "<p>Retrieves the <a href='#'>details</a>, of an account."
                                   "</p><p>More.</p>",
                    "responses": {}},
            "post": {"summary": "  ", "description": "x" * 300, "responses": {}},
            "delete": {"summary": "Close it", "description": "Ignored.", "responses": {}},
            "put": {"responses": {}},
        }}}
    ops = {op.key: op.summary for op in list_operations(doc)}
    assert ops["get:/v1/account"] == "Retrieves the details, of an account."
    assert len(ops["post:/v1/account"]) == 120 and ops["post:/v1/account"].endswith("…")
    assert ops["delete:/v1/account"] == "Close it"
    assert ops["put:/v1/account"] is None
