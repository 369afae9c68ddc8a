from __future__ import annotations

from typing import Any

from django import forms

from . import providers
from .models import WorkspaceConnector


def provider_choices() -> list[tuple[str, str]]:
    items = sorted(providers.all_providers().values(), key=lambda p: p.name.lower())
    return [("", "Custom (enter the URLs)")] + [(p.type, p.name) for p in items]


class ConnectorForm(forms.ModelForm):
    """Register or edit a workspace connector. The client secret is write-only: it is never
    rendered back (an empty field on edit keeps the stored one; rotate it separately)."""

    client_secret = forms.CharField(required=False, widget=forms.PasswordInput(render_value=False),
                                    help_text="Stored encrypted; never shown again.")

    class Meta:
        model = WorkspaceConnector
        fields = ["name", "provider_type", "authorize_url", "token_url", "revocation_url",
                  "client_id", "scopes", "pkce", "token_auth"]
        widgets = {"provider_type": forms.Select}

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider_type"].widget.choices = provider_choices()
        self.fields["provider_type"].required = False
        self.fields["pkce"].label = "Use PKCE (S256)"
        if editing:
            del self.fields["client_secret"]


class RotateSecretForm(forms.Form):
    client_secret = forms.CharField(widget=forms.PasswordInput(render_value=False),
                                    label="New client secret")


class PlatformConnectForm(forms.Form):
    """Connection-config fields of a provider (e.g. a subdomain), built per provider."""

    def __init__(self, *args: Any, provider: providers.Provider, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in provider.config_fields:
            self.fields[name] = forms.RegexField(
                regex=providers.CONFIG_VALUE_RE, label=name,
                error_messages={"invalid": "Letters, digits and dashes only."})
