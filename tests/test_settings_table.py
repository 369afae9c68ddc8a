"""The README's configuration table and the environment the settings read stay in step.

Every environment variable read in config/settings/*.py and config/*.py (``env(...)``,
``env.bool(...)`` and the other django-environ casts, ``os.environ.get / [] / setdefault``,
``os.getenv``), found with ``ast``, must have a row in the table under "## Configuration";
every row must name a variable that is read. A row may name a family with a placeholder,
e.g. ``CONNECTOR_<TYPE>_CLIENT_ID``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*ROOT.glob("config/settings/*.py"), *ROOT.glob("config/*.py")])
NAME = re.compile(r"`([A-Z][A-Z0-9_]*(?:<[A-Z]+>[A-Z0-9_]*)*)`")


def _literal(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _is_os_environ(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "environ"
            and isinstance(node.value, ast.Name) and node.value.id == "os")


def _reads(tree: ast.AST) -> set[str]:
    """Names of the environment variables a module reads (literal names only)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        key: str | None = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Name) and func.id == "env":  # env("NAME", ...)
                key = _literal(node.args[0])
            elif isinstance(func, ast.Attribute):
                if isinstance(func.value, ast.Name) and func.value.id == "env" \
                        and not func.attr.isupper():  # env.bool("NAME"), env.list(...), ...
                    key = _literal(node.args[0])
                elif _is_os_environ(func.value) and func.attr in ("get", "setdefault", "pop"):
                    key = _literal(node.args[0])
                elif (func.attr == "getenv" and isinstance(func.value, ast.Name)
                      and func.value.id == "os"):
                    key = _literal(node.args[0])
        elif isinstance(node, ast.Subscript) and _is_os_environ(node.value):
            key = _literal(node.slice)
        if key:
            names.add(key)
    return names


def read_names() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in SOURCES:
        for name in _reads(ast.parse(path.read_text(), filename=str(path))):
            found.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return found


def documented_names() -> set[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index("\n## Configuration")
    end = text.find("\n## ", start + 1)
    section = text[start:end if end != -1 else None]
    names: set[str] = set()
    for line in section.splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        first_cell = line.split("|")[1]
        names.update(NAME.findall(first_cell))
    return names


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile("".join("[A-Z0-9_]+" if part.startswith("<") else re.escape(part)
                              for part in re.split(r"(<[A-Z]+>)", name)) + r"\Z")


def test_the_parser_sees_reads_of_each_kind():
    tree = ast.parse("import os\nenv = None\n"
                     "A = env('ONE', default=1)\nB = env.bool('TWO')\nC = env.list('THREE')\n"
                     "D = os.environ.get('FOUR')\nE = os.environ['FIVE']\nF = os.getenv('SIX')\n"
                     "os.environ.setdefault('SEVEN', 'x')\nG = env(dynamic)\nH = env.ENVIRON\n")
    assert _reads(tree) == {"ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN"}
    assert _pattern("CONNECTOR_<TYPE>_CLIENT_ID").match("CONNECTOR_GITHUB_CLIENT_ID")
    assert not _pattern("CONNECTOR_<TYPE>_CLIENT_ID").match("CONNECTOR_GITHUB_CLIENT_IDX")


def test_the_table_is_found():
    documented = documented_names()
    assert {"DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS"} <= documented


def test_every_environment_variable_read_is_in_the_readme_table():
    reads = read_names()
    documented = documented_names()
    patterns = [_pattern(name) for name in documented if "<" in name]
    missing = sorted(name for name in reads
                     if name not in documented and not any(p.match(name) for p in patterns))
    assert not missing, (
        "Read from the environment but missing from README.md's configuration table:\n"
        + "\n".join(f"  {name}  (read in {', '.join(sorted(set(reads[name])))})"
                    for name in missing))


def test_every_row_of_the_readme_table_is_read():
    reads = read_names()
    source = "\n".join(path.read_text() for path in SOURCES)
    unread = sorted(
        name for name in documented_names()
        if name not in reads
        # a family (CONNECTOR_<TYPE>_CLIENT_ID) is read by a loop over the environment
        and not ("<" in name and f'"{name.split("<")[0]}' in source))
    assert not unread, ("In README.md's configuration table but never read from the "
                        "environment by config/:\n" + "\n".join(f"  {name}" for name in unread))
