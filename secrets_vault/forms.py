"""Dashboard forms. Values are write-only: their widgets never render a value, so a form
re-rendered after an error keeps everything typed except the secret itself."""

from __future__ import annotations

from typing import Any

from django import forms

from workspaces.models import App

from . import naming
from .models import CustomApi


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders its value (multi-line secrets such as PEM keys)."""

    def format_value(self, value: Any) -> None:
        return None


class WriteOnlyTextInput(forms.TextInput):
    """A text input that never renders its value (part of a credential)."""

    def format_value(self, value: Any) -> None:
        return None


def _value_attrs(**extra: str) -> dict[str, str]:
    return {"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off", **extra}


class SecretCreateForm(forms.Form):
    name = forms.CharField(max_length=naming.SECRET_NAME_MAX,
                           validators=[naming.validate_secret_name],
                           help_text="Upper-case letters, digits and _, e.g. STRIPE_API_KEY.",
                           widget=forms.TextInput(attrs={"autocomplete": "off"}))
    value = forms.CharField(strip=False, max_length=naming.SECRET_VALUE_MAX,
                            widget=WriteOnlyTextarea(attrs=_value_attrs(rows="3")),
                            help_text="Write-only: it is never shown again.")
    description = forms.CharField(max_length=300, required=False)


class SecretReplaceForm(forms.Form):
    value = forms.CharField(strip=False, max_length=naming.SECRET_VALUE_MAX, label="New value",
                            widget=WriteOnlyTextarea(attrs=_value_attrs(rows="3")),
                            help_text="Replaces the current value; the old one is discarded.")
    description = forms.CharField(max_length=300, required=False)


def scope_choices(apps: Any) -> list[tuple[str, str]]:
    return [("organization", "Organization: every app in this workspace")] + [
        (app.public_id, f"App: {app.name}") for app in apps]


class _CustomApiFields(forms.Form):
    name = forms.CharField(max_length=100, help_text="e.g. Internal Billing API. The variable is "
                                                     "CUSTOM_API_ + the name in upper case.")
    domain = forms.CharField(max_length=253, required=False,
                             help_text="Optional host name, like api.example.com.")
    docs_url = forms.CharField(max_length=2000, required=False, label="Documentation URL",
                               help_text="Optional http(s) link to the API's documentation.")
    scope = forms.ChoiceField(choices=[])

    def __init__(self, *args: Any, apps: Any = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.apps = {app.public_id: app for app in apps}
        self.fields["scope"].choices = scope_choices(apps)

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        naming.custom_api_env_var(name)
        return name

    def clean_domain(self) -> str:
        return naming.normalize_domain(self.cleaned_data.get("domain", ""))

    def clean_docs_url(self) -> str:
        return naming.normalize_docs_url(self.cleaned_data.get("docs_url", ""))

    def scope_app(self) -> App | None:
        scope = self.cleaned_data["scope"]
        return None if scope == "organization" else self.apps[scope]


class CustomApiCreateForm(_CustomApiFields):
    auth_type = forms.ChoiceField(choices=CustomApi.AuthType.choices, label="Auth type")
    username = forms.CharField(max_length=200, required=False, label="User name (basic auth)",
                               widget=WriteOnlyTextInput(attrs=_value_attrs(
                                   **{"data-show-when": "auth_type=basic"})),
                               help_text="Only for basic auth. Stored encrypted with the "
                                         "password.")
    credential = forms.CharField(
        strip=False, required=False, label="Credentials", max_length=naming.CREDENTIAL_MAX,
        widget=forms.PasswordInput(attrs=_value_attrs(), render_value=False),
        help_text="The key or token; for basic auth, the password. Stored encrypted; never "
                  "shown again.")

    field_order = ["name", "auth_type", "username", "credential", "domain", "docs_url", "scope"]


class CustomApiEditForm(_CustomApiFields):
    """Name, domain, documentation URL and scope; never credentials."""
