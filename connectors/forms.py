from __future__ import annotations

from typing import Any

from django import forms

from secrets_vault.naming import SECRET_VALUE_MAX

from . import guidance, providers
from .models import WorkspaceConnector

_SECRET_TOO_LONG = {"max_length": f"Client secrets are limited to {SECRET_VALUE_MAX} characters "
                                  "(the vault's limit)."}


def secret_field(**kwargs: Any) -> forms.CharField:
    """A write-only client secret input, capped at the vault's limit."""
    return forms.CharField(widget=forms.PasswordInput(render_value=False),
                           max_length=SECRET_VALUE_MAX, error_messages=_SECRET_TOO_LONG,
                           **kwargs)


def provider_choices() -> list[tuple[str, str]]:
    items = sorted(providers.all_providers().values(), key=lambda p: p.name.lower())
    return [("", "Custom (enter the URLs)")] + [(p.type, p.name) for p in items]


class ProviderSelect(forms.Select):
    """The provider-type select; each provider's option carries its defaults as ``data-*``
    attributes (static/js/connectors.js fills the URL and scope fields from them)."""

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        option["attrs"].update(guidance.option_data(str(value or "")))
        return option


class ConnectorForm(forms.ModelForm):
    """Register or edit a workspace connector. The client secret is write-only: it is never
    rendered back (an empty field on edit keeps the stored one, unless a URL moves to another
    server: then it must be typed again in the same save)."""

    client_secret = secret_field(required=False, help_text="Stored encrypted; never shown again.")

    class Meta:
        model = WorkspaceConnector
        fields = ["name", "provider_type", "authorize_url", "token_url", "revocation_url",
                  "client_id", "scopes", "pkce", "token_auth"]
        widgets = {"provider_type": ProviderSelect(attrs={"data-connector-provider": ""})}

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider_type"].widget.choices = provider_choices()
        self.fields["provider_type"].required = False
        self.fields["pkce"].label = "Use PKCE (S256)"
        if editing:
            self.fields["client_secret"].help_text = (
                "Leave empty to keep the stored one. Needed again when a URL (or the provider "
                "type) moves to another server: the stored secret is only sent to the servers it "
                "was entered for.")


class RotateSecretForm(forms.Form):
    client_secret = secret_field(label="New client secret")


class PlatformConnectForm(forms.Form):
    """Connection-config fields of a provider (e.g. a subdomain), built per provider."""

    def __init__(self, *args: Any, provider: providers.Provider, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in provider.config_fields:
            self.fields[name] = forms.RegexField(
                regex=providers.CONFIG_VALUE_RE, label=name,
                error_messages={"invalid": "Letters, digits and dashes only."})
