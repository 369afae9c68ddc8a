"""Prompt checks: pure functions over the prompt and the declared fields."""

from __future__ import annotations

import pytest

from catalog.prompt_checks import run_checks
from catalog.starter import OPENAI_EXAMPLE, OPENAI_PROMPT, OUTLINE

SECRET = [{"name": "OPENAI_API_KEY", "description": "key",
           "how_to_get": "https://platform.openai.com/account/api-keys"}]


def codes(result, level="error"):  # type: ignore[no-untyped-def]
    return [f.code for f in (result.errors if level == "error" else result.warnings)]


def prompt_with(env_json: str, code: str, extra: str = "") -> str:
    return (f"# X\n\n## Overview\nHi\n\n## Environment Variables\n```json\n{env_json}\n```\n\n"
            f"## Backend Function\n```ts\n{code}\n```\n\n## Usage & Examples\n- x\n\n"
            f"## Research Summary & Resources\n- [Docs](https://example.com/docs)\n{extra}")


ENV_ONE = '[{"name": "API_KEY", "description": "d", "how_to_get": "https://x.example.com"}]'
DECL_ONE = [{"name": "API_KEY", "description": "d", "how_to_get": "text"}]


def test_the_openai_example_passes_cleanly():
    result = run_checks(prompt=OPENAI_PROMPT, required_secrets=OPENAI_EXAMPLE["required_secrets"],
                        doc_links=OPENAI_EXAMPLE["doc_links"])
    assert result.ok and not result.warnings
    assert result.env_block == OPENAI_EXAMPLE["required_secrets"]


def test_the_outline_passes_with_no_secrets():
    assert run_checks(prompt=OUTLINE, required_secrets=[]).ok


def test_declared_secret_missing_from_prompt_is_an_error():
    result = run_checks(prompt=prompt_with("[]", "return 1;"), required_secrets=DECL_ONE)
    assert "secret_not_in_prompt" in codes(result)
    assert not result.ok


def test_env_var_listed_but_not_declared_is_an_error():
    result = run_checks(prompt=prompt_with(ENV_ONE, 'Deno.env.get("API_KEY")'),
                        required_secrets=[])
    assert "env_not_declared" in codes(result)


@pytest.mark.parametrize("read", [
    'Deno.env.get("OTHER_KEY")', "Deno.env.get('OTHER_KEY')", "process.env.OTHER_KEY",
    'process.env["OTHER_KEY"]', 'os.environ["OTHER_KEY"]', "os.environ.get('OTHER_KEY')",
    'os.getenv("OTHER_KEY")', "Bun.env.OTHER_KEY",
])
def test_env_var_read_by_code_but_not_declared_is_an_error(read):
    code = f'const a = Deno.env.get("API_KEY");\nconst b = {read};'
    result = run_checks(prompt=prompt_with(ENV_ONE, code), required_secrets=DECL_ONE)
    assert codes(result) == ["env_read_not_declared"]
    assert "OTHER_KEY" in result.errors[0].message


def test_matching_block_and_reads_pass():
    result = run_checks(prompt=prompt_with(ENV_ONE, 'Deno.env.get("API_KEY")'),
                        required_secrets=DECL_ONE)
    assert result.ok, result.errors


def test_invalid_json_in_the_env_block_is_an_error_with_position():
    result = run_checks(prompt=prompt_with('[{"name": "API_KEY",]', 'Deno.env.get("API_KEY")'),
                        required_secrets=DECL_ONE)
    assert codes(result) == ["env_json"]
    assert "line 1" in result.errors[0].message


def test_env_block_must_be_a_list_of_named_objects():
    result = run_checks(prompt=prompt_with('{"name": "API_KEY"}', "x"), required_secrets=[])
    assert "env_json" in codes(result)
    result = run_checks(prompt=prompt_with('[{"description": "no name"}]', "x"),
                        required_secrets=[])
    assert "env_item" in codes(result)


def test_missing_description_or_how_to_get_is_only_a_warning():
    env = '[{"name": "API_KEY"}]'
    result = run_checks(prompt=prompt_with(env, 'Deno.env.get("API_KEY")'),
                        required_secrets=DECL_ONE)
    assert result.ok
    assert codes(result, "warning").count("env_item") == 2


def test_missing_env_section_is_an_error_only_when_secrets_are_declared():
    prompt = "## Overview\nx\n## Backend Function\n```ts\nDeno.serve(() => 1)\n```\n"
    assert "env_missing" in codes(run_checks(prompt=prompt, required_secrets=DECL_ONE))
    result = run_checks(prompt=prompt, required_secrets=[])
    assert result.ok and "env_missing" in codes(result, "warning")


def test_backend_code_required_when_the_switch_is_on():
    prompt = "## Environment Variables\n```json\n[]\n```\n## Backend Function\nTBD\n"
    assert "backend_missing" in codes(run_checks(prompt=prompt, backend_function=True))
    result = run_checks(prompt=prompt, backend_function=False)
    assert result.ok


def test_backend_code_with_the_switch_off_is_a_warning():
    result = run_checks(prompt=OUTLINE, backend_function=False)
    assert result.ok and "backend_unused" in codes(result, "warning")


@pytest.mark.parametrize("link,ok", [
    ("https://example.com/docs", True),
    ("http//example.com", False),
    ("javascript:alert(1)", False),
    ("https://", False),
    ("#usage", True),
    ("ftp://example.com/file", False),
])
def test_links_in_the_prompt_must_be_well_formed(link, ok):
    result = run_checks(prompt=prompt_with("[]", "Deno.serve(() => 1)", f"- [x]({link})"))
    assert result.ok is ok, result.errors


def test_bare_broken_url_is_an_error_and_http_is_a_warning():
    result = run_checks(prompt=prompt_with("[]", "x", "See https://example.com/docs."))
    assert result.ok  # trailing punctuation is not part of the link
    result = run_checks(prompt=prompt_with("[]", "x", "See https:/example.com/x"))
    assert "link" in codes(result)
    result = run_checks(prompt=prompt_with("[]", "x", "- [a](http://example.com)"))
    assert result.ok and "link_http" in codes(result, "warning")


def test_doc_links_and_how_to_get_urls_are_checked():
    result = run_checks(prompt=OUTLINE, doc_links=["not a url", "https://ok.example.com"])
    assert [f.field for f in result.errors] == ["doc_links"]
    bad = [{"name": "API_KEY", "description": "", "how_to_get": "https://"}]
    result = run_checks(prompt=prompt_with(ENV_ONE, 'Deno.env.get("API_KEY")'),
                        required_secrets=bad)
    assert "link" in codes(result)


def test_secret_names_must_be_env_style_and_unique():
    result = run_checks(prompt=OUTLINE, required_secrets=[
        {"name": "api-key"}, {"name": "A"}, {"name": "A"}])
    assert {"secret_name", "secret_duplicate"} <= set(codes(result))


def test_secrets_read_only_in_frontend_code_warn():
    prompt = prompt_with(ENV_ONE, 'Deno.env.get("API_KEY")') + \
        "\n## Frontend\n```tsx\nconst k = process.env.API_KEY;\n```\n"
    result = run_checks(prompt=prompt, required_secrets=DECL_ONE)
    assert result.ok and "env_in_frontend" in codes(result, "warning")


def test_declared_but_unused_secret_warns():
    decl = DECL_ONE + [{"name": "SECOND", "description": "d", "how_to_get": "t"}]
    env = ('[{"name": "API_KEY", "description": "d", "how_to_get": "t"},'
           ' {"name": "SECOND", "description": "d", "how_to_get": "t"}]')
    result = run_checks(prompt=prompt_with(env, 'Deno.env.get("API_KEY")'),
                        required_secrets=decl)
    assert result.ok and "secret_unused" in codes(result, "warning")


def test_recommended_sections_missing_are_warnings_and_empty_prompt_is_an_error():
    result = run_checks(prompt="## Backend Function\n```ts\nx\n```", backend_function=True)
    assert result.ok
    assert codes(result, "warning").count("section_missing") == 3
    assert "prompt_empty" in codes(run_checks(prompt="   "))


def test_code_in_an_unclosed_fence_still_counts():
    prompt = '## Environment Variables\n```json\n[]\n```\n## Backend Function\n```ts\n' \
             'Deno.env.get("SNEAKY")'
    assert "env_read_not_declared" in codes(run_checks(prompt=prompt))


def test_custom_api_variables_are_not_secrets():
    result = run_checks(prompt=OUTLINE, required_secrets=[{"name": "CUSTOM_API_BILLING"}])
    assert "secret_name" in codes(result)
    code = 'Deno.env.get("API_KEY"); Deno.env.get("CUSTOM_API_BILLING_AUTH_HEADER")'
    result = run_checks(prompt=prompt_with(ENV_ONE, code), required_secrets=DECL_ONE)
    assert result.ok and "env_custom_api" in codes(result, "warning")


def test_the_untouched_starter_outline_warns_about_its_placeholders():
    """Issue 14 §4.14: the outline passes the structural checks, so its placeholder text warns
    (a warning: it does not block saving)."""
    from catalog.prompt_checks import run_checks
    from catalog.starter import OUTLINE

    result = run_checks(prompt=OUTLINE)
    placeholder = [f for f in result.warnings if f.code == "placeholder"]
    assert len(placeholder) == 1
    assert "My Service Integration" in placeholder[0].message
    assert "example.com" in placeholder[0].message
    edited = (OUTLINE.replace("My Service Integration", "Weather")
              .replace("What this integration does, in one or two sentences.", "Forecasts.")
              .replace("// Read each declared secret with Deno.env.get(...)", "// forecast")
              .replace('Example prompt: "..."', 'Example prompt: "rain in Oslo?"')
              .replace("https://example.com/docs", "https://api.met.no/doc"))
    assert not [f for f in run_checks(prompt=edited).warnings if f.code == "placeholder"]
