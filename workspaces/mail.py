"""E-mail backends.

`ConsoleBackend` is what `EMAIL_URL=consolemail://` (the default) means here: Django's console
backend writes whole messages to the process's stdout, i.e. into the Celery worker's log, with
invitation and password-reset links in them. This one prints every message with each link
replaced by a notice, so a log never holds a link. To click e-mailed links in development, point
EMAIL_URL at a local mail catcher (e.g. `smtp://localhost:1025` for Mailpit) or at a directory
(`filemail:///tmp/switchboard-mail`).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from django.core.mail.backends.console import EmailBackend as DjangoConsoleBackend

LINK = re.compile(r"\b(?:https?://|/(?:invite|reset)/)\S+", re.IGNORECASE)
HIDDEN = "[link hidden: e-mail links are never written to logs]"


def redact_links(text: str) -> str:
    return LINK.sub(HIDDEN, text)


class ConsoleBackend(DjangoConsoleBackend):
    def write_message(self, message: Any) -> None:
        shown = copy.copy(message)
        shown.body = redact_links(str(message.body or ""))
        shown.alternatives = [(redact_links(str(content)), mimetype)
                              for content, mimetype in getattr(message, "alternatives", [])]
        shown.attachments = []
        super().write_message(shown)
