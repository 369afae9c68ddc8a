"""Pure rules about names and values: no ORM, usable by forms, serializers and services."""

from __future__ import annotations

import base64
import re

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

SECRET_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
SYSTEM_NAME_RE = re.compile(r"^__[A-Za-z0-9_]+$")
SECRET_NAME_MAX = 100
SYSTEM_NAME_MAX = 200
SECRET_VALUE_MAX = 65_536
CREDENTIAL_MAX = 8_192
CUSTOM_API_PREFIX = "CUSTOM_API_"
AUTH_HEADER_SUFFIX = "_AUTH_HEADER"
_OTHER_RUN = re.compile(r"[^A-Z0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def validate_secret_name(name: str) -> None:
    """Environment-variable style, as users and the API write it."""
    if not name:
        raise ValidationError("Give the secret a name.", code="required")
    if len(name) > SECRET_NAME_MAX:
        raise ValidationError(f"Keep the name to {SECRET_NAME_MAX} characters.", code="max_length")
    if not SECRET_NAME_RE.match(name):
        raise ValidationError(
            "Use upper-case letters, digits and _, not starting with a digit "
            "(e.g. STRIPE_API_KEY).", code="invalid")
    if name.startswith("__"):
        raise ValidationError("Names starting with __ are reserved for values Switchboard "
                              "manages itself.", code="reserved")
    if name.startswith(CUSTOM_API_PREFIX):
        raise ValidationError(f"Names starting with {CUSTOM_API_PREFIX} are reserved for Custom "
                              "APIs. Add a Custom API instead, or pick another name.",
                              code="reserved")


def validate_system_name(name: str) -> None:
    """System-managed secrets (integration headers, connector tokens): `__<something>`."""
    if len(name) > SYSTEM_NAME_MAX or not SYSTEM_NAME_RE.match(name):
        raise ValidationError("System secret names look like __integration_header_12.",
                              code="invalid")


def validate_secret_value(value: str) -> None:
    if value is None or value == "":
        raise ValidationError("Enter a value.", code="required")
    if len(value) > SECRET_VALUE_MAX:
        raise ValidationError(f"Values are limited to {SECRET_VALUE_MAX} characters.",
                              code="max_length")


def custom_api_env_var(name: str) -> str:
    """'My Billing API' -> 'CUSTOM_API_MY_BILLING_API'.

    Upper-cased; every run of characters other than A-Z and 0-9 becomes one `_`; runs at the
    start and end are dropped (so 'Twilio (SMS)' -> CUSTOM_API_TWILIO_SMS, not ..._SMS_).
    """
    core = _OTHER_RUN.sub("_", name.upper()).strip("_")
    if not core:
        raise ValidationError("The name needs at least one letter or digit (A-Z, 0-9).",
                              code="invalid")
    return CUSTOM_API_PREFIX + core


def custom_api_variables(env_var: str) -> tuple[str, str]:
    """The two variables a Custom API puts in a backend's environment."""
    return env_var, env_var + AUTH_HEADER_SUFFIX


def validate_credential(value: str, label: str = "The credential") -> None:
    if len(value) > CREDENTIAL_MAX:
        raise ValidationError(f"{label} is limited to {CREDENTIAL_MAX} characters.",
                              code="max_length")
    if _CONTROL.search(value):
        raise ValidationError(f"{label} can't contain line breaks or control characters "
                              "(it is sent in an HTTP header).", code="invalid")


def validate_basic_username(value: str) -> None:
    if not value:
        raise ValidationError("Enter the user name for basic auth.", code="required")
    if ":" in value:
        raise ValidationError("A basic-auth user name can't contain ':'.", code="invalid")
    validate_credential(value, "The user name")


def normalize_domain(value: str) -> str:
    """A bare host name like api.example.com (lower-cased), or ''."""
    value = (value or "").strip().rstrip(".").lower()
    if not value:
        return ""
    if "://" in value or "/" in value or ":" in value or "@" in value:
        raise ValidationError("Enter just the host name, like api.example.com (no https://, "
                              "port or path).", code="invalid")
    if len(value) > 253:
        raise ValidationError("That host name is too long.", code="invalid")
    labels = value.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ValidationError("Enter a host name like api.example.com.", code="invalid")
    if labels[-1].isdigit():
        raise ValidationError("Enter a host name like api.example.com, not an IP address.",
                              code="invalid")
    return value


_URL = URLValidator(schemes=["http", "https"],
                    message="Enter an http:// or https:// address.")


def normalize_docs_url(value: str) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) > 2000:
        raise ValidationError("That address is too long.", code="invalid")
    _URL(value)
    return value


def auth_header(auth_type: str, credential: str) -> tuple[str, str]:
    """(header name, header value) for a Custom API's stored credential.

    For basic auth the credential is stored as `user:password`.
    """
    if auth_type == "api_key":
        return "X-API-Key", credential
    if auth_type == "bearer":
        return "Authorization", f"Bearer {credential}"
    if auth_type == "basic":
        encoded = base64.b64encode(credential.encode("utf-8")).decode("ascii")
        return "Authorization", f"Basic {encoded}"
    raise ValueError(f"Unknown auth type {auth_type!r}")
