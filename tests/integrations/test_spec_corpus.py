"""Every spec of the shared corpus through the service layer, as the worker runs it: the valid
ones import with the right operation count, the broken ones are refused with a clear message
and leave nothing behind. One import per spec (the big ones are never imported twice)."""

from __future__ import annotations

import pytest

from integrations import services
from integrations.models import SpecImport, WorkspaceIntegration
from tests.integrations.egress_support import Upstream
from tests.integrations.wizard_support import SPECS, egress_to, serve, serve_folder

pytestmark = [pytest.mark.django_db,
              pytest.mark.skipif(not SPECS.is_dir(), reason="shared spec corpus not found")]

# file -> operations (method:path pairs under paths), from specs/INDEX.md
SINGLE = {
    "oai-petstore-2.0.json": 3,
    "oai-uber-2.0.json": 5,
    "oai-petstore-3.0.yaml": 3,
    "oai-petstore-expanded-3.0.yaml": 4,
    "oai-uspto-3.0.yaml": 3,
    "oai-link-example-3.0.yaml": 6,
    "oai-webhook-example-3.1.yaml": 0,
    "swagger-petstore3-3.0.yaml": 19,
    "redocly-museum-3.1.yaml": 8,
    "twilio-messaging-v1-3.0.yaml": 58,
    "slack-web-2.0.json": 174,
    "box-3.0.json": 296,
    "twilio-api-v2010-3.0.json": 197,
    "openai-3.1.yaml": 288,
    "asana-3.0.yaml": 247,
    "stripe-2022-04-3.0.json": 417,
    "box-3.0.deref.json": 296,
}
# folder -> (root file inside it, operations)
MULTI = {
    "oai-petstore-separate-2.0": ("spec/swagger.json", 4),
    "digitalocean-3.0-multifile": ("DigitalOcean-public.v2.yaml", 659),
}
# file -> (error code, words the message must contain)
BROKEN = {
    "empty.json": ("empty", ["empty"]),
    "invalid-json-truncated.json": ("not_json_or_yaml", ["line", "column"]),
    "invalid-yaml-syntax.yaml": ("not_json_or_yaml", ["line", "column"]),
    "not-a-spec-array.json": ("not_object", ["top level must be an object"]),
    "not-a-spec-object.json": ("not_openapi", ["not an openapi"]),
    "not-openapi-asyncapi-slack-events.json": ("not_openapi", ["asyncapi"]),
    "swagger-1.2-unsupported.json": ("unsupported_version", ["1.2", "not supported"]),
    "unsupported-version-4.0.json": ("unsupported_version", ["4.0", "not supported"]),
    "schema-invalid-3.0.json": ("invalid_path", ["contacts/{id}", "must start with '/'"]),
    "missing-ref-component-3.0.yaml": ("unresolved_ref", ["DoesNotExist"]),
}


@pytest.fixture(autouse=True)
def _quick_validation(settings):  # type: ignore[no-untyped-def]
    # Validation of the biggest specs takes 10-30 s; its time limit is what is tested here.
    settings.INTEGRATIONS_VALIDATION_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def upstream():  # type: ignore[no-untyped-def]
    server = Upstream()
    yield server
    server.close()


def test_the_corpus_is_all_covered():
    on_disk = {p.name for p in SPECS.iterdir() if p.is_file() and p.suffix in (".json", ".yaml")}
    assert on_disk == set(SINGLE)
    assert {p.name for p in (SPECS / "broken").iterdir()} == set(BROKEN)
    assert {p.name for p in SPECS.iterdir() if p.is_dir() and p.name not in ("broken",
                                                                              "LICENSES")} \
        == set(MULTI)


@pytest.mark.parametrize("name", sorted(SINGLE))
def test_valid_spec_imports(personas, name):
    data = (SPECS / name).read_bytes()
    spec_import = services.import_pasted(personas.workspace, actor=personas.admin, text=data)
    assert len(spec_import.operations) == SINGLE[name]  # listed before validation
    services.run_import(spec_import.pk)
    spec_import = SpecImport.objects.get(pk=spec_import.pk)
    assert spec_import.status == SpecImport.Status.READY, spec_import.error_message
    assert len(spec_import.operations) == SINGLE[name]
    assert spec_import.title and spec_import.spec_version
    keys = [op["key"] for op in spec_import.operations]
    assert len(set(keys)) == len(keys)
    assert all(":" in k and k.split(":", 1)[1].startswith("/") for k in keys)
    for finding in spec_import.warnings:  # short, located, never a whole spec
        assert len(finding["message"]) <= 300
    if SINGLE[name]:
        integration = services.create_integration(
            personas.workspace, actor=personas.admin, spec_import=spec_import, slug="api",
            name="API", base_url="https://api.example.com", operation_keys=keys[:30])
        assert integration.selected_keys == keys[:30]
        assert len(integration.operations_doc["paths"]) >= 1
        assert services.operation_views(integration)[0].snippet.startswith(
            'const result = await client.integrations.custom.call("api", ')


def test_findings_of_invalid_official_specs_are_warnings(personas, settings):
    settings.INTEGRATIONS_VALIDATION_TIMEOUT = 20
    data = (SPECS / "slack-web-2.0.json").read_bytes()
    spec_import = services.import_pasted(personas.workspace, actor=personas.admin, text=data)
    services.run_import(spec_import.pk)
    spec_import.refresh_from_db()
    assert spec_import.status == SpecImport.Status.READY
    assert spec_import.warnings, "Slack's spec has schema errors"
    assert all(w["location"].startswith("/") or w["location"] == ""
               for w in spec_import.warnings)
    assert any(w["location"] for w in spec_import.warnings)


def test_base_url_is_prefilled_from_the_spec(personas):
    cases = {
        "oai-petstore-2.0.json": "http://petstore.swagger.io/v1",  # schemes: [http]
        "oai-uspto-3.0.yaml": "https://developer.uspto.gov/ds-api",
        "swagger-petstore3-3.0.yaml": "https://petstore3.swagger.io/api/v3",
    }
    for name, expected in cases.items():
        text = (SPECS / name).read_bytes()
        spec_import = services.import_pasted(personas.workspace, actor=personas.admin, text=text)
        assert spec_import.default_base_url == expected, name


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_spec_is_refused_and_nothing_is_made(personas, name):
    data = (SPECS / "broken" / name).read_bytes()
    code, words = BROKEN[name]
    with pytest.raises(services.IntegrationError) as exc:
        services.import_pasted(personas.workspace, actor=personas.admin, text=data)
    assert exc.value.code == code
    message = exc.value.message.lower()
    for word in words:
        assert word.lower() in message, exc.value.message
    assert len(exc.value.message) < 400  # never the whole spec
    assert not SpecImport.objects.exists()
    assert not WorkspaceIntegration.objects.exists()


@pytest.mark.parametrize("name", ["not-openapi-asyncapi-slack-events.json",
                                  "missing-ref-component-3.0.yaml"])
def test_broken_spec_from_a_url_fails_the_import_only(personas, upstream, name):
    url = serve(upstream, f"/broken/{name}", (SPECS / "broken" / name).read_bytes())
    with egress_to(upstream):
        spec_import = services.start_url_import(personas.workspace, actor=personas.admin,
                                                url=url)
        services.run_import(spec_import.pk)
    spec_import.refresh_from_db()
    assert spec_import.status == SpecImport.Status.FAILED
    assert spec_import.error_code == BROKEN[name][0]
    assert spec_import.raw_text == "" and spec_import.operations == []
    assert not WorkspaceIntegration.objects.exists()


@pytest.mark.parametrize("folder", sorted(MULTI))
def test_multi_file_spec_from_a_url_is_bundled(personas, upstream, settings, folder):
    root, count = MULTI[folder]
    serve_folder(upstream, SPECS / folder, prefix=f"/{folder}/")
    with egress_to(upstream):
        spec_import = services.start_url_import(personas.workspace, actor=personas.admin,
                                                url=upstream.url(f"/{folder}/{root}"))
        services.run_import(spec_import.pk)
    spec_import = SpecImport.objects.get(pk=spec_import.pk)
    assert spec_import.status == SpecImport.Status.READY, spec_import.error_message
    assert len(spec_import.operations) == count
    # The stored copy is one document: later steps never fetch again.
    upstream.routes.clear()
    keys = [op["key"] for op in spec_import.operations][:30]
    integration = services.create_integration(
        personas.workspace, actor=personas.admin, spec_import=spec_import, slug="bundled",
        name="Bundled", base_url="https://api.example.com", operation_keys=keys)
    assert integration.selected_keys == keys


def test_bundling_has_a_file_limit(personas, upstream, settings):
    settings.INTEGRATIONS_BUNDLE_MAX_FILES = 3
    folder = "oai-petstore-separate-2.0"
    serve_folder(upstream, SPECS / folder, prefix="/limit/")
    with egress_to(upstream):
        spec_import = services.start_url_import(personas.workspace, actor=personas.admin,
                                                url=upstream.url("/limit/spec/swagger.json"))
        services.run_import(spec_import.pk)
    spec_import.refresh_from_db()
    assert spec_import.status == SpecImport.Status.FAILED
    assert spec_import.error_code == "too_many_files"
    assert "more than 3 files" in spec_import.error_message


def test_pasted_multi_file_root_says_it_must_be_one_document(personas):
    data = (SPECS / "oai-petstore-separate-2.0" / "spec" / "swagger.json").read_bytes()
    with pytest.raises(services.IntegrationError) as exc:
        services.import_pasted(personas.workspace, actor=personas.admin, text=data)
    assert exc.value.code == "external_ref"
    assert "must be one document" in exc.value.message
