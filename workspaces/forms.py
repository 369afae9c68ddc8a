from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm

from .models import Plan, Role, User


def add_service_error(form: forms.Form, exc: Any) -> None:
    """Show a `services.ServiceError` on the form: at its field when the form has that field,
    else above the form. The form keeps what was typed."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, exc.message)


class SignUpForm(forms.Form):
    name = forms.CharField(max_length=150, required=False, label="Your name")
    email = forms.EmailField()
    password = forms.CharField(widget=forms.PasswordInput, strip=False)

    def clean_email(self) -> str:
        from . import services

        email = self.cleaned_data["email"].strip().lower()
        if services.email_taken(email):
            raise forms.ValidationError(services.DUPLICATE_EMAIL)
        return email

    def clean(self) -> dict:
        data = super().clean()
        if data.get("password"):
            probe = User(email=data.get("email", ""), name=data.get("name", ""))
            try:
                password_validation.validate_password(data["password"], probe)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return data


class EmailAuthenticationForm(AuthenticationForm):
    username = forms.EmailField(label="E-mail", widget=forms.EmailInput(attrs={"autofocus": True}))


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's reset form, but the e-mail goes through the outbox and a Celery task. The
    outbox row holds no link: the reset token is made when the e-mail is sent."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email,  # type: ignore[no-untyped-def]
                  to_email, html_email_template_name=None):
        from django.template import loader

        from .services import queue_link_email

        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        queue_link_email(to_email, subject, "password_reset", {
            "user": context["user"].pk, "template": email_template_name,
            **{k: context[k] for k in ("email", "domain", "site_name", "protocol")}})


class WorkspaceForm(forms.Form):
    name = forms.CharField(max_length=100)


class PlanForm(forms.Form):
    plan = forms.ChoiceField(choices=Plan.choices)


class InviteForm(forms.Form):
    email = forms.EmailField()
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class AppForm(forms.Form):
    name = forms.CharField(max_length=100)
    allow_anonymous_integration_calls = forms.BooleanField(
        required=False, label="Allow anonymous integration calls",
        help_text="Callers without any token may call this workspace's integrations from this "
                  "app, charged to the workspace. Off by default; only admins and owners can "
                  "turn it on.")


class AppSettingsForm(AppForm):
    """The app page's settings: AppForm plus the admins' settings (the monthly credit cap and
    the sandbox switch), shown read-only to anyone else (`lock_admin_settings`)."""

    monthly_credit_cap = forms.IntegerField(
        required=False, min_value=1, label="Monthly credit cap",
        widget=forms.NumberInput(attrs={"placeholder": "No cap", "inputmode": "numeric"}),
        help_text="Most credits this app's integration calls may spend in a calendar month "
                  "(UTC). Over it, calls are refused with 402 and nothing is sent; admins and "
                  "owners are e-mailed at 80% and 100%. Empty: no cap beyond the workspace's "
                  "balance.")
    sandbox_mode = forms.BooleanField(
        required=False, label="Sandbox mode",
        help_text="Answer this app's integration calls from the spec (its examples, or values "
                  "generated from its schemas) instead of the upstream: free, nothing sent.")

    ADMIN_ONLY = ("monthly_credit_cap", "sandbox_mode")

    def lock_admin_settings(self) -> None:
        """For a member who manages the app but is no admin: the fields show, posted values
        are ignored (the service refuses a change anyway)."""
        for name in self.ADMIN_ONLY:
            self.fields[name].disabled = True
            self.fields[name].help_text += " Only workspace admins and owners change this."


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False)
