"""Shared rules for what people type, used by every app's services (the ground floor: no ORM).

`check_name` is the one rule for the names of things: workspaces, apps, tokens, secrets and
Custom APIs, integrations, catalog integrations, connectors. A name with a control character
(NUL, escape sequences, line breaks) or a bidirectional-text control (which can make
"invoice\u202egnp.exe" display as "invoiceexe.png") is refused with a clear message; the
form that sent it keeps what was typed (`ServiceError` with `field`).
"""

from __future__ import annotations

import unicodedata

#: Bidirectional-text controls: embeddings/overrides U+202A–U+202E, isolates U+2066–U+2069,
#: the left-to-right / right-to-left marks U+200E/U+200F and the Arabic letter mark U+061C.
BIDI_CONTROLS = frozenset(
    [chr(c) for c in range(0x202A, 0x202F)] + [chr(c) for c in range(0x2066, 0x206A)]
    + ["\u200e", "\u200f", "\u061c"])

NAME_REFUSED = ("{what} can't contain invisible or control characters (such as line breaks, "
                "tabs or text-direction marks); found {found}. Remove them and try again.")


def forbidden_characters(value: str) -> list[str]:
    """The characters of `value` a name may not hold (Unicode category Cc, bidi controls),
    as U+XXXX codes, in order of appearance, without repeats."""
    found: list[str] = []
    for ch in value:
        if unicodedata.category(ch) == "Cc" or ch in BIDI_CONTROLS:
            code = f"U+{ord(ch):04X}"
            if code not in found:
                found.append(code)
    return found


def check_name(value: str | None, *, field: str = "name", what: str = "The name",
               error: type | None = None) -> None:
    """Raise ServiceError (or the app's subclass `error`) at `field` when the name holds a
    forbidden character."""
    found = forbidden_characters(str(value)) if value else []
    if found:
        from .services import ServiceError  # services import this module

        raise (error or ServiceError)(NAME_REFUSED.format(what=what, found=", ".join(found)),
                                      code="invalid_characters", field=field)
