"""JSON pointers (RFC 6901): build, split and walk them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointer(tokens: Iterable[Any]) -> str:
    return "".join("/" + _escape(str(t)) for t in tokens)


def _split_pointer(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise KeyError(pointer)
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def _walk_tokens(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens:
        if isinstance(node, dict):
            node = node[token]
        elif isinstance(node, list):
            if not token.isdigit() or (token != "0" and token.startswith("0")):
                raise KeyError(token)
            node = node[int(token)]
        else:
            raise KeyError(token)
    return node


def _link_pointer(link: Any) -> str:
    """The JSON pointer of a (parent link, key) chain."""
    tokens: list[Any] = []
    while link is not None:
        link, key = link
        tokens.append(key)
    return _pointer(reversed(tokens)) or "/"
