"""Checks on an integration prompt, run as the author edits and again at submission.

Pure functions over text: no database. Errors block submission; warnings do not.

- The Environment Variables section holds a JSON list of {name, description, how_to_get} that
  names exactly the declared required secrets.
- Every environment variable the prompt's code reads (`Deno.env.get("X")`, `process.env.X`,
  `os.environ["X"]`, ...) is declared.
- With the backend-function switch on, a Backend Function section carries code.
- Links (in the prompt, the documentation links, and "where to get it") are well formed.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from secrets_vault.naming import CUSTOM_API_PREFIX

ERROR = "error"
WARNING = "warning"

ENV_NAME_RE = re.compile(r"^[A-Z][A-Z0-9_]*$")
HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE_RE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+#.-]*)")
ENV_READ_PATTERNS = [
    re.compile(r"Deno\.env\.get\(\s*[\"'`]([A-Za-z_][A-Za-z0-9_]*)[\"'`]\s*\)"),
    re.compile(r"process\.env\.([A-Za-z_][A-Za-z0-9_]*)"),
    re.compile(r"process\.env\[\s*[\"'`]([A-Za-z_][A-Za-z0-9_]*)[\"'`]\s*\]"),
    re.compile(r"Bun\.env\.([A-Za-z_][A-Za-z0-9_]*)"),
    re.compile(r"os\.environ\[\s*[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']\s*\]"),
    re.compile(r"os\.environ\.get\(\s*[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']"),
    re.compile(r"os\.getenv\(\s*[\"']([A-Za-z_][A-Za-z0-9_]*)[\"']"),
]
MD_LINK_RE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'][^\"']*[\"'])?\s*\)")
AUTOLINK_RE = re.compile(r"<((?:[a-zA-Z][a-zA-Z0-9+.-]*):[^>\s]*)>")
BARE_URL_RE = re.compile(r"(?<![(<\w])(https?:/{0,3}[^\s)>\]`\"']*)")

# Section kinds, recognised from heading text ("## 2. Environment Variables").
SECTIONS = {
    "overview": ("overview",),
    "env": ("environment variable", "required setup variable", "env vars"),
    "backend": ("backend function", "backend code"),
    "frontend": ("frontend",),
    "usage": ("usage", "example"),
    "research": ("research", "resources", "documentation"),
}
RECOMMENDED = [("overview", "Overview"), ("usage", "Usage and Examples"),
               ("research", "Research Summary and Resources")]

_url_validator = URLValidator(schemes=["http", "https"])


@dataclass(frozen=True)
class Finding:
    level: str
    code: str
    message: str
    field: str = "prompt"


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    env_block: list[dict[str, str]] | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def add(self, level: str, code: str, message: str, field: str = "prompt") -> None:
        self.findings.append(Finding(level, code, message, field))

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "errors": [asdict(f) for f in self.errors],
                "warnings": [asdict(f) for f in self.warnings], "env_block": self.env_block}


@dataclass
class CodeBlock:
    lang: str
    text: str
    section: str  # kind of the section it sits in ("" when none)
    line: int


@dataclass
class Section:
    kind: str
    title: str
    line: int
    text_lines: list[str] = field(default_factory=list)
    code: list[CodeBlock] = field(default_factory=list)


def section_kind(title: str) -> str:
    t = re.sub(r"^[\d.)\s]+", "", title).strip().lower()
    for kind, words in SECTIONS.items():
        if any(w in t for w in words):
            return kind
    return ""


def parse(prompt: str) -> tuple[list[Section], list[CodeBlock], list[str]]:
    """Split Markdown into sections (by heading), fenced code blocks and the prose lines."""
    sections: list[Section] = []
    blocks: list[CodeBlock] = []
    prose: list[str] = []
    current: Section | None = None
    fence: str | None = None
    lang = ""
    buf: list[str] = []
    start = 0
    for number, line in enumerate(prompt.splitlines(), start=1):
        if fence is not None:
            stripped = line.strip()
            if stripped.startswith(fence[0] * 3) and set(stripped) <= {fence[0]} and \
                    len(stripped) >= len(fence):
                block = CodeBlock(lang, "\n".join(buf), current.kind if current else "", start)
                blocks.append(block)
                if current is not None:
                    current.code.append(block)
                fence = None
            else:
                buf.append(line)
            continue
        m = FENCE_RE.match(line)
        if m:
            fence, lang, buf, start = m.group(2), m.group(3).lower(), [], number
            continue
        h = HEADING_RE.match(line)
        if h:
            current = Section(section_kind(h.group(2)), h.group(2), number)
            sections.append(current)
            continue
        prose.append(line)
        if current is not None:
            current.text_lines.append(line)
    if fence is not None:  # an unclosed fence still counts as code
        block = CodeBlock(lang, "\n".join(buf), current.kind if current else "", start)
        blocks.append(block)
        if current is not None:
            current.code.append(block)
    return sections, blocks, prose


def env_reads(blocks: list[CodeBlock]) -> dict[str, list[str]]:
    """Variable name -> kinds of the sections whose code reads it."""
    found: dict[str, list[str]] = {}
    for block in blocks:
        for pattern in ENV_READ_PATTERNS:
            for m in pattern.finditer(block.text):
                found.setdefault(m.group(1), [])
                if block.section not in found[m.group(1)]:
                    found[m.group(1)].append(block.section)
    return found


def url_problem(url: str, *, allow_relative: bool = False) -> str | None:
    """Why a link is not well formed (None when it is)."""
    url = url.strip()
    if not url:
        return "is empty"
    if allow_relative and url.startswith(("#", "/")) and not url.startswith("//"):
        return None
    scheme = urlsplit(url).scheme.lower() if ":" in url else ""
    if allow_relative and scheme == "mailto":
        return None if "@" in url else "is not a valid mailto: link"
    if scheme not in ("http", "https"):
        return "must start with https:// (or http://)"
    try:
        _url_validator(url)
    except ValidationError:
        return "is not a well-formed URL"
    return None


def secret_name_problem(name: str) -> str | None:
    """Why `name` can't be declared as a required secret (None when it can): the one rule for
    the editor form, the API and the checks."""
    if not ENV_NAME_RE.match(name):
        return "Use environment-variable style: capitals, digits and _, e.g. OPENAI_API_KEY."
    if name.startswith(CUSTOM_API_PREFIX):
        return (f"Names starting with {CUSTOM_API_PREFIX} belong to the app's Custom APIs and "
                "can't be declared as secrets.")
    return None


def how_to_get_problem(how: str) -> str | None:
    """"Where to get it" is a URL or a short instruction; what looks like a link must be one."""
    how = how.strip()
    if "://" in how or how.lower().startswith(("http:", "https:")):
        return url_problem(how)
    return None


def _parse_env_block(text: str, result: CheckResult) -> list[dict[str, str]] | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        result.add(ERROR, "env_json", f"The Environment Variables block is not valid JSON "
                                      f"(line {exc.lineno}, column {exc.colno}: {exc.msg}).")
        return None
    if not isinstance(data, list):
        result.add(ERROR, "env_json", "The Environment Variables block must be a JSON list "
                                      "of {name, description, how_to_get} objects.")
        return None
    items: list[dict[str, str]] = []
    for index, item in enumerate(data, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
                or not item["name"].strip():
            result.add(ERROR, "env_item", f"Environment variable #{index} needs a \"name\".")
            continue
        name = item["name"].strip()
        if not ENV_NAME_RE.match(name):
            result.add(ERROR, "env_name", f"Environment variable \"{name}\" should be in "
                                          "environment-variable style, e.g. OPENAI_API_KEY.")
        for key in ("description", "how_to_get"):
            if not str(item.get(key) or "").strip():
                result.add(WARNING, "env_item", f"Environment variable {name} has no "
                                                f"\"{key}\".")
        items.append({"name": name, "description": str(item.get("description") or ""),
                      "how_to_get": str(item.get("how_to_get") or "")})
    names = [i["name"] for i in items]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        result.add(ERROR, "env_duplicate", f"{dup} is listed twice in Environment Variables.")
    return items


def check_secrets(secrets: list[dict[str, Any]], result: CheckResult) -> list[str]:
    names: list[str] = []
    for index, secret in enumerate(secrets, start=1):
        name = str(secret.get("name") or "").strip()
        if not name:
            result.add(ERROR, "secret_name", f"Required secret #{index} needs a name.",
                       "required_secrets")
            continue
        problem = secret_name_problem(name)
        if problem:
            result.add(ERROR, "secret_name", f"Secret name \"{name}\": {problem}",
                       "required_secrets")
        how = str(secret.get("how_to_get") or "").strip()
        problem = how_to_get_problem(how)
        if problem:
            result.add(ERROR, "link", f"“Where to get it” for {name} {problem}: {how}",
                       "required_secrets")
        names.append(name)
    for dup in sorted({n for n in names if names.count(n) > 1}):
        result.add(ERROR, "secret_duplicate", f"The secret {dup} is declared twice.",
                   "required_secrets")
    return names


# Text of the starter outline (catalog/starter.py) that is meant to be replaced: left as is, the
# prompt still passes every structural check, so each one warns.
PLACEHOLDERS = [
    ("# My Service Integration", "the title is still “My Service Integration”"),
    ("What this integration does, in one or two sentences.",
     "the Overview is still the outline's sentence"),
    ("// Read each declared secret with Deno.env.get(...)",
     "the backend function is still the outline's stub"),
    ('Example prompt: "..."', "the Usage & Examples section still has the “...” example"),
    ("https://example.com/docs", "the resources still link to example.com"),
]


def check_placeholders(prompt: str, result: CheckResult) -> None:
    found = [what for text, what in PLACEHOLDERS if text in prompt]
    if found:
        result.add(WARNING, "placeholder", "Replace the starter outline's placeholder text: "
                   + "; ".join(found) + ".")


def run_checks(*, prompt: str, required_secrets: list[dict[str, Any]] | None = None,
               backend_function: bool = True, doc_links: list[str] | None = None) -> CheckResult:
    result = CheckResult()
    declared = check_secrets(required_secrets or [], result)
    for link in doc_links or []:
        problem = url_problem(link)
        if problem:
            result.add(ERROR, "link", f"Documentation link {problem}: {link}", "doc_links")

    if not prompt.strip():
        result.add(ERROR, "prompt_empty", "Write the integration prompt.")
        return result
    sections, blocks, prose = parse(prompt)
    kinds = {s.kind for s in sections}
    check_placeholders(prompt, result)

    # Environment Variables block
    env_sections = [s for s in sections if s.kind == "env"]
    listed: list[str] | None = None
    if not env_sections:
        level = ERROR if declared else WARNING
        result.add(level, "env_missing", "Add an “Environment Variables” section with a JSON "
                   "list of {name, description, how_to_get}"
                   + (" naming the declared secrets." if declared else "."))
    else:
        json_blocks = [b for b in env_sections[0].code if b.lang in ("", "json", "jsonc")]
        if not json_blocks:
            result.add(ERROR, "env_json", "The Environment Variables section needs a ```json "
                                          "code block listing the variables.")
        else:
            items = _parse_env_block(json_blocks[0].text, result)
            if items is not None:
                result.env_block = items
                listed = [i["name"] for i in items]
    if listed is not None:
        for name in declared:
            if name not in listed:
                result.add(ERROR, "secret_not_in_prompt", f"The required secret {name} is not "
                           "listed in the prompt's Environment Variables block.")
        for name in listed:
            if name not in declared:
                result.add(ERROR, "env_not_declared", f"{name} is listed in Environment "
                           "Variables but is not declared as a required secret.")

    # Variables the code reads
    reads = env_reads(blocks)
    for name, where in reads.items():
        if name not in declared and name.startswith(CUSTOM_API_PREFIX):
            result.add(WARNING, "env_custom_api", f"The code reads {name}: it comes from a "
                       "Custom API that each app using this integration must add.")
        elif name not in declared:
            result.add(ERROR, "env_read_not_declared", f"The code reads {name}, which is not "
                       "declared as a required secret.")
        elif "frontend" in where:
            result.add(WARNING, "env_in_frontend", f"Frontend code reads {name}: secrets "
                       "belong in the backend function, never in the browser.")
    for name in declared:
        if name not in reads and blocks:
            result.add(WARNING, "secret_unused", f"The code never reads the declared secret "
                       f"{name}.")

    # Backend function code
    backend = [b for s in sections if s.kind == "backend" for b in s.code if b.text.strip()]
    if backend_function and not backend:
        result.add(ERROR, "backend_missing", "The backend function switch is on: add a "
                   "“Backend Function” section with its code in a fenced code block.",
                   "backend_function")
    elif not backend_function and backend:
        result.add(WARNING, "backend_unused", "The prompt has backend function code but the "
                   "backend function switch is off.", "backend_function")

    # Links in the prose
    text = "\n".join(prose)
    seen: set[str] = set()
    for url in [m.group(1) for m in MD_LINK_RE.finditer(text)] + \
               [m.group(1) for m in AUTOLINK_RE.finditer(text)]:
        seen.add(url)
        problem = url_problem(url, allow_relative=True)
        if problem:
            result.add(ERROR, "link", f"The link “{url}” {problem}.")
        elif url.startswith("http://"):
            result.add(WARNING, "link_http", f"The link {url} is not https.")
    stripped_links = MD_LINK_RE.sub(" ", AUTOLINK_RE.sub(" ", text))
    for m in BARE_URL_RE.finditer(stripped_links):
        url = m.group(1).rstrip(".,;:")
        if url in seen:
            continue
        problem = url_problem(url)
        if problem:
            result.add(ERROR, "link", f"The link “{url}” {problem}.")

    # Recommended sections
    for kind, label in RECOMMENDED:
        if kind not in kinds:
            result.add(WARNING, "section_missing", f"Consider adding a “{label}” section.")
    return result
