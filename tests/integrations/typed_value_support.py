"""The rule for a sensitive value typed into the Configure form when the save fails (issue 14
§4.4): it comes back only as the value of that header's ``<input type="password">`` (the user's
own input of this request, so nothing is retyped), appears nowhere else in the page (no text,
no other attribute, no script), and nothing is saved anywhere (no header, no session, no audit
row). A value that IS saved never comes back in any page (the canary tests)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from tests.integrations.test_proxy_secrets import scan_database


class _Inputs(HTMLParser):
    """Every ``<input>`` of a page in order, with the header name of the row it belongs to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.inputs: list[dict[str, str]] = []
        self.texts: list[str] = []
        self._row_name = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "input":
            return
        found = {k: v or "" for k, v in attrs}
        if found.get("name") == "header_name":
            self._row_name = found.get("value", "")
        found["_row"] = self._row_name
        self.inputs.append(found)

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def assert_typed_value_back_only_in_its_password_field(response: Any, header: str,
                                                       value: str) -> None:
    """``value`` (a canary typed for ``header`` in a failed save) is in the page exactly once:
    as the value of a ``type=password`` ``header_value`` input of the row named ``header``."""
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count(value) == 1, "the typed value must appear once, in its field"
    parser = _Inputs()
    parser.feed(html)
    holders = [i for i in parser.inputs if any(value in v for v in i.values())]
    assert len(holders) == 1
    [field] = holders
    assert field.get("type") == "password", field
    assert field.get("name") == "header_value" and field.get("value") == value
    assert field["_row"] == header
    assert not any(value in text for text in parser.texts)  # never in the page's text
    assert value not in str(response.cookies) and value not in str(response.headers)
    assert response["Cache-Control"] == "no-store"  # no cached copy of the page holding it


def assert_nothing_saved(client: Any, value: str) -> None:
    """The typed value is in no table as plain text (not a header, not an audit row), and not
    in the user's session (stored encoded, so read decoded here). Encrypted header columns
    hold only ciphertext: the callers check that no header was written."""
    assert scan_database([value]) == []
    assert value not in repr(dict(client.session.items()))
