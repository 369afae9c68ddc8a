"""Specs the parser used to answer with a 500: a lone UTF-16 surrogate escape in JSON, a YAML
NUL escape, and a very deep JSON sent as the raw body of the imports API. Each is a clear 400
(the same message on every path: paste, upload, raw body, envelope, URL), the dashboard keeps
the pasted text, and nothing is stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from integrations import openapi, services
from integrations.models import SpecImport
from tests.integrations.egress_support import Upstream
from tests.integrations.wizard_support import egress_to, serve

pytestmark = pytest.mark.django_db

SURROGATE_JSON = '{"openapi":"3.0.0","info":{"title":"\\ud800","version":"1"},"paths":{}}'
SURROGATE_YAML = 'openapi: "3.0.0"\ninfo:\n  title: "\\ud800"\n  version: "1"\npaths: {}\n'
NUL_YAML = 'openapi: "3.0.0"\ninfo:\n  title: "\\0"\n  version: "1"\npaths: {}\n'
NUL_YAML_KEY = ('openapi: "3.0.0"\ninfo: {title: t, version: "1"}\npaths:\n  "/a\\x00":\n'
                '    get: {responses: {"200": {description: ok}}}\n')
NUL_JSON = '{"openapi":"3.0.0","info":{"title":"\\u0000","version":"1"},"paths":{}}'
DEEP_JSON = '{"a":' * 100_000 + "1" + "}" * 100_000

SURROGATE = "invalid_character"
NUL = "not_json_or_yaml"
CASES = [
    ("surrogate in JSON", SURROGATE_JSON, SURROGATE, "unpaired UTF-16 surrogate"),
    # PyYAML refuses a lone surrogate escape itself, as a YAML error
    ("surrogate in YAML", SURROGATE_YAML, "not_json_or_yaml", "invalid Unicode character"),
    ("NUL escape in YAML", NUL_YAML, NUL, "NUL character"),
    ("NUL escape in a YAML key", NUL_YAML_KEY, NUL, "NUL character"),
    ("NUL escape in JSON", NUL_JSON, NUL, "NUL character"),
    ("deep JSON", DEEP_JSON, "too_deep", "nested too deeply"),
]
IDS = [c[0] for c in CASES]


@pytest.fixture
def admin_client(client, personas):  # type: ignore[no-untyped-def]
    client.force_login(personas.admin)
    return client


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


def imports_url(personas: Any) -> str:
    return f"/api/v1/workspaces/{personas.workspace.public_id}/integrations/imports/"


def assert_refused(response: Any, code: str, words: str) -> dict[str, Any]:
    assert response.status_code == 400, response.content[:300]
    data = response.json()
    assert data["code"] == code and words in data["detail"], data
    assert data["errors"] == {"spec": [data["detail"]]}
    assert "\ud800" not in response.content.decode("utf-8", "surrogatepass")
    return data


@pytest.mark.parametrize(("label", "text", "code", "words"), CASES, ids=IDS)
def test_the_parser_refuses_clearly(label, text, code, words):
    with pytest.raises(openapi.SpecError) as caught:
        openapi.parse_spec(text)
    assert caught.value.code == code and words in caught.value.message


@pytest.mark.parametrize(("label", "text", "code", "words"), CASES, ids=IDS)
def test_api_paths_answer_400_with_one_message(api, personas, label, text, code, words):
    client = api(personas.admin)
    url = imports_url(personas)
    answers = [
        client.post(url, {"spec": text}, format="json"),  # the envelope
        client.post(url, text, content_type="application/yaml"),  # the raw body as text
        client.post(url, {"spec": SimpleUploadedFile("spec.txt", text.encode())},
                    format="multipart"),  # an upload
    ]
    if text.lstrip().startswith("{"):
        answers.append(client.post(url, text, content_type="application/json"))  # raw JSON
    details = {assert_refused(r, code, words)["detail"] for r in answers}
    assert len(details) == 1, details
    assert not SpecImport.objects.exists()


def test_a_json_object_with_a_lone_surrogate_in_the_envelope(api, personas):
    body = '{"spec": ' + SURROGATE_JSON + "}"
    response = api(personas.admin).post(imports_url(personas), body,
                                        content_type="application/json")
    assert_refused(response, SURROGATE, "unpaired UTF-16 surrogate")
    assert not SpecImport.objects.exists()


def test_a_deep_json_body_is_the_same_too_deep_as_a_paste(api, personas):
    client = api(personas.admin)
    url = imports_url(personas)
    raw = client.post(url, DEEP_JSON, content_type="application/json")
    pasted = client.post(url, {"spec": DEEP_JSON}, format="json")
    enveloped = client.post(url, '{"spec": ' + DEEP_JSON + "}", content_type="application/json")
    assert assert_refused(raw, "too_deep", "nested too deeply") == assert_refused(
        pasted, "too_deep", "nested too deeply")
    assert_refused(enveloped, "too_deep", "nested too deeply")


@pytest.mark.parametrize(("label", "text", "code", "words"), CASES, ids=IDS)
def test_url_imports_fail_with_the_same_message(personas, upstream, label, text, code, words):
    url = serve(upstream, f"/spec-{IDS.index(label)}.json", text)
    with egress_to(upstream):
        spec_import = services.start_url_import(personas.workspace, actor=personas.admin,
                                                url=url)
        services.run_import(spec_import.pk)
    spec_import.refresh_from_db()
    assert spec_import.status == SpecImport.Status.FAILED
    assert spec_import.error_code == code and words in spec_import.error_message
    with pytest.raises(openapi.SpecError) as caught:
        openapi.parse_spec(text)
    assert spec_import.error_message == caught.value.message


@pytest.mark.parametrize(("label", "text", "code", "words"), CASES, ids=IDS)
def test_dashboard_paste_and_upload_keep_the_text(admin_client, personas, label, text, code,
                                                  words):
    url = reverse("integration-new", args=[personas.workspace.public_id])
    response = admin_client.post(url, {"source": "paste", "spec": text})
    html = response.content.decode()
    assert response.status_code == 200 and words in html
    from django.utils.html import escape

    assert escape(text[:5000]) in html  # the pasted text is still in the editor
    upload = SimpleUploadedFile("spec.yaml", text.encode())
    response = admin_client.post(url, {"source": "paste", "spec": "", "spec_file": upload})
    assert response.status_code == 200 and words in response.content.decode()
    assert not SpecImport.objects.exists()


def test_good_escapes_still_import(api, personas):
    """A surrogate pair (an emoji written as two escapes) and ordinary escapes are fine."""
    spec = {"openapi": "3.0.0", "info": {"title": "Pets \U0001F436", "version": "1"},
            "paths": {"/a\\0": {"get": {"responses": {"200": {"description": "t\\u0000"}}}}}}
    text = json.dumps(spec)  # ensure_ascii: the emoji is \ud83d\udc36
    assert "\\ud83d\\udc36" in text
    response = api(personas.admin).post(imports_url(personas), {"spec": text}, format="json")
    assert response.status_code == 202, response.json()
    assert response.json()["title"] == "Pets \U0001F436"


def test_the_message_says_where():
    with pytest.raises(openapi.SpecError) as caught:
        openapi.parse_spec(SURROGATE_JSON)
    assert " at /info/title;" in caught.value.message
    with pytest.raises(openapi.SpecError) as caught:
        openapi.parse_spec(NUL_YAML_KEY)
    assert 'the key "/a\\u0000" of /paths' in caught.value.message
