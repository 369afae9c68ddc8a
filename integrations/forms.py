"""Forms of the integration wizard. Rules live in services; these only shape input."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.http import QueryDict

from workspaces.forms import add_service_error

from . import openapi, services


class SpecSourceForm(forms.Form):
    """Step 1: a URL, or pasted JSON/YAML (or an uploaded file, for big specs)."""

    source = forms.ChoiceField(choices=[("url", "From URL"), ("paste", "Paste JSON or YAML")],
                               initial="url", widget=forms.RadioSelect)
    url = forms.CharField(label="OpenAPI specification URL", required=False, max_length=2000,
                          widget=forms.URLInput(attrs={
                              "placeholder": "https://api.example.com/openapi.json",
                              "autocomplete": "off"}))
    spec = forms.CharField(label="Specification (JSON or YAML)", required=False, strip=False,
                           widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false",
                                                        "class": "code"}))
    spec_file = forms.FileField(label="…or upload a file", required=False)

    def __init__(self, *args: Any, upload_too_large: bool = False, **kwargs: Any) -> None:
        #: The upload handler dropped a file over the cap while streaming it (or before, by
        #: the request's Content-Length): it is not in ``files``.
        self.upload_too_large = upload_too_large
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        source = data.get("source")
        upload = data.get("spec_file")
        too_large = self.upload_too_large or (upload is not None
                                              and upload.size > openapi.MAX_SPEC_BYTES)
        if source == "url" and not (data.get("url") or "").strip():
            self.add_error("url", "Enter the URL of the spec.")
        if (source == "paste" and not upload and not too_large
                and not (data.get("spec") or "").strip()):
            self.add_error("spec", "Paste the spec, or choose a file.")
        if too_large:
            self.add_error("spec_file", f"The file is too large; the limit is "
                                        f"{openapi.MAX_SPEC_BYTES // 1048576} MiB.")
        return data


class ConfigureForm(forms.Form):
    """Step 3: details. Headers come as rows (see ``header_rows``)."""

    slug = forms.CharField(max_length=services.SLUG_MAX,
                           help_text="Lower-case letters, digits and hyphens; apps call the "
                                     "integration by it, e.g. my-api.",
                           widget=forms.TextInput(attrs={"pattern": "[a-z0-9][a-z0-9-]*",
                                                         "autocomplete": "off"}))
    name = forms.CharField(max_length=services.MAX_NAME,
                           help_text="Shown in the workspace's integrations list.")
    description = forms.CharField(required=False, max_length=services.MAX_DESCRIPTION,
                                  widget=forms.Textarea(attrs={"rows": 3}),
                                  help_text="What it does, so teammates know when to use it.")
    base_url = forms.CharField(label="Base URL", max_length=2000,
                               widget=forms.URLInput(attrs={"autocomplete": "off"}),
                               help_text="Every call goes to this URL + the operation's path.")

    def add_service_error(self, exc: services.IntegrationError) -> None:
        add_service_error(self, exc)

    def check_all(self, workspace: Any, rows: list[HeaderRow], integration: Any = None
                  ) -> bool:
        """Every field checked in one pass, so that a duplicate slug and a private base URL
        come back together (issue 14): the field rules, then each of the services' checks of
        a field that passed them (slug, name, description, base URL, the headers). The
        services check again when saving (a slug taken meanwhile, the origin of kept
        headers). True when nothing was found."""
        self.is_valid()
        data = self.cleaned_data
        exclude = integration.pk if integration is not None else None
        existing = services.headers._existing_headers(integration) if integration else {}
        checks = {
            "slug": lambda: services.fields._clean_slug(workspace, data["slug"], exclude),
            "name": lambda: services.fields._clean_name(data["name"]),
            "description": lambda: services.fields._clean_description(data["description"]),
            "base_url": lambda: services.clean_base_url(data["base_url"]),
        }
        for name, check in checks.items():
            if name in self.errors or name not in data:
                continue
            try:
                check()
            except services.IntegrationError as exc:
                self.add_service_error(exc)
        try:
            services.headers._clean_headers(header_inputs(rows), existing)
        except services.IntegrationError as exc:
            self.add_service_error(exc)
        return not self.errors


@dataclass
class HeaderRow:
    """One header row as the page shows it. A kept sensitive row has ``keep`` set and never a
    value; ``value`` holds a plain value, or a sensitive value the user typed into this very
    form and that is not saved yet (given back in its password field after a failed submit:
    their own input of this request). A stored sensitive value never gets here."""

    name: str
    value: str = ""
    keep: bool = False
    sensitive: bool = False
    typed: bool = False  # a sensitive value typed into this form, given back after an error
    reenter: bool = False  # a kept sensitive value the new base URL's server needs typed again
    locked: bool = False  # sensitive for good: a known sensitive name, or a stored secret

    @property
    def masked(self) -> bool:
        """Shown as “sensitive – delete to change” (a stored value, not asked for)."""
        return self.keep and self.sensitive and not self.reenter


def header_rows_from_post(data: QueryDict) -> list[HeaderRow]:
    """The rows as posted. Each row carries an id (``header_row``); a row is marked sensitive
    by hand when its id is among the ``header_sensitive`` values (a checkbox, or a hidden
    input for a stored sensitive row)."""
    names = data.getlist("header_name")
    values = data.getlist("header_value")
    keeps = data.getlist("header_keep")
    ids = data.getlist("header_row")
    marked = set(data.getlist("header_sensitive"))
    rows = []
    for i, name in enumerate(names):
        value = values[i] if i < len(values) else ""
        keep = (keeps[i] if i < len(keeps) else "") == "1"
        row_id = ids[i] if i < len(ids) else str(i)
        if not name.strip() and not value:
            continue  # an empty row the user added and left
        rows.append(HeaderRow(name=name.strip(), value=value, keep=keep,
                              sensitive=services.is_sensitive_header(name) or row_id in marked))
    return rows


def header_inputs(rows: list[HeaderRow]) -> list[services.HeaderInput]:
    """Kept rows (no value sent) keep the stored value; others carry what was typed."""
    return [services.HeaderInput(r.name, None if r.keep and r.sensitive and not r.value
                                 else r.value, sensitive=r.sensitive) for r in rows]


def rows_for_redisplay(rows: list[HeaderRow], reenter: Iterable[str] = ()) -> list[HeaderRow]:
    """After a failed save: keep names, plain values, the sensitive marks and a sensitive value
    typed into this request's form (back in its password field: "bad input loses nothing";
    the page never shows a stored sensitive value). A row shows as kept (masked) only when it
    sent no value. Kept rows named in ``reenter`` (the base URL moves to another server) ask
    for their value again."""
    again = {name.lower() for name in reenter}
    out = []
    for r in rows:
        auto = services.is_sensitive_header(r.name)
        if r.sensitive and (r.value or not r.keep):
            out.append(HeaderRow(name=r.name, value=r.value, sensitive=True,
                                 typed=bool(r.value), locked=auto))
        elif r.sensitive:
            out.append(HeaderRow(name=r.name, keep=True, sensitive=True, locked=True,
                                 reenter=r.name.lower() in again))
        else:
            out.append(HeaderRow(name=r.name, value=r.value, keep=r.keep))
    return out


def rows_from_integration(integration: Any) -> list[HeaderRow]:
    return [HeaderRow(name=h.name, value="" if h.sensitive else h.value, keep=True,
                      sensitive=h.sensitive, locked=h.sensitive)
            for h in integration.headers.all()]
