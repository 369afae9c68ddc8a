"""The admin API reads JSON as its schema types it: no coercion, and names carry their rule.

DRF coerces on input: a CharField turns the JSON number 0 into "0", a BooleanField takes 0/1 and
"yes", an IntegerField takes "5". The schema (/api/schema/) says string, boolean, integer, so a
client reading it expects those refused, and a schema-driven test (tests/test_schema_contract.py)
sends exactly such values. Every admin-API serializer derives from ``StrictSerializer`` or
``StrictModelSerializer``: for a JSON body, a value of the wrong JSON type is refused with the
field's own "invalid" message, at the field (``{"errors": {"name": ["Not a valid string."]}}``),
list items and dict values included. Form bodies (the browsable API, tests with multipart or
urlencoded data: a ``QueryDict``, where every value is a string) keep DRF's parsing.

``NameField`` is a name of a thing (workspaces, apps, tokens, Custom APIs, integrations,
connectors): ``workspaces.validation.check_name``'s rule (no control or bidi characters) and, unless
blank names are allowed, "not only spaces", stated as the schema's ``pattern`` and checked on the
raw value, before any trimming, so what the schema refuses the server refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.validators import RegexValidator
from django.http import QueryDict
from rest_framework import serializers
from rest_framework.fields import empty

from ..validation import BIDI_CONTROLS, NAME_REFUSED, forbidden_characters

# --- strict JSON types ---------------------------------------------------------------------------


def _type_error(field: serializers.Field, value: Any) -> Any:
    """The error detail for `value` of the wrong JSON type for `field`, or None."""
    if value is None:  # allow_null is the field's own business
        return None
    if isinstance(field, serializers.BooleanField):
        ok = isinstance(value, bool)
    elif isinstance(field, serializers.CharField):  # also Email, URL, Slug, Regex fields
        ok = isinstance(value, str)
    elif isinstance(field, serializers.IntegerField):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(field, serializers.ListField) and isinstance(value, list):
        items = {i: e for i, item in enumerate(value) if (e := _type_error(field.child, item))}
        return items or None
    elif isinstance(field, serializers.DictField) and isinstance(value, dict):
        values = {k: e for k, item in value.items() if (e := _type_error(field.child, item))}
        return values or None
    else:  # choices, JSON, files, nested serializers (strict themselves): their own rules
        return None
    if ok:
        return None
    return [field.error_messages.get("invalid", "Wrong type.")]


class StrictTypesMixin:
    """Refuse JSON values of the wrong type instead of coercing them (see the module doc)."""

    def to_internal_value(self, data: Any) -> Any:
        root_data = getattr(self.root, "initial_data", None)  # type: ignore[attr-defined]
        if isinstance(data, Mapping) and not isinstance(root_data, QueryDict):
            errors = {}
            for field in self._writable_fields:  # type: ignore[attr-defined]
                value = data.get(field.field_name, empty)
                if value is not empty and (problem := _type_error(field, value)):
                    errors[field.field_name] = problem
            if errors:
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictSerializer(StrictTypesMixin, serializers.Serializer):
    """The base of every admin-API serializer (input or output, so none is forgotten)."""


class StrictModelSerializer(StrictTypesMixin, serializers.ModelSerializer):
    """The base of every admin-API model serializer."""


# --- rules stated as patterns --------------------------------------------------------------------


class StatedRule(RegexValidator):
    """A rule with its own messages (`check`, e.g. a naming.validate_* function) stated to the
    schema as a ``pattern`` (drf-spectacular reads a RegexValidator). The pattern is checked too,
    after `check`, so the two can't drift apart: what the pattern refuses the server refuses."""

    def __init__(self, pattern: str, check: Any = None, message: str | None = None) -> None:
        super().__init__(pattern, message=message)
        self.check = check

    def __call__(self, value: Any) -> None:
        if self.check is not None:
            self.check(value)
        super().__call__(value)


#: C0 controls and DEL: what an HTTP header value (a credential) can't hold.
HEADER_FORBIDDEN = r"\x00-\x1f\x7f"


# --- names ---------------------------------------------------------------------------------------

#: What ``forbidden_characters`` refuses: Unicode category Cc (C0, DEL, C1) and the bidi controls.
_FORBIDDEN = r"\x00-\x1f\x7f-\x9f" + "".join(
    f"\\u{ord(c):04x}" for c in sorted(BIDI_CONTROLS))
#: What ``str.strip()`` removes besides Cc characters (so a value of only these is blank).
SPACES = r"\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def none_of(forbidden: str, *, blank: bool = True) -> str:
    """A pattern: no character of the class `forbidden`; with blank=False, also not empty and
    not only spaces (what ``str.strip()`` would leave empty). ECMA-262 (the schema's regex
    dialect) and Python's ``re`` read the escapes alike; drf-spectacular copies them."""
    if blank:
        return rf"^[^{forbidden}]*$"
    return rf"^[^{forbidden}]*[^{forbidden}{SPACES}][^{forbidden}]*$"


NAME_PATTERN = none_of(_FORBIDDEN, blank=False)
BLANKABLE_NAME_PATTERN = none_of(_FORBIDDEN)


class NameRule(RegexValidator):
    """check_name's rule as a RegexValidator (so the schema gets the ``pattern``), with
    check_name's message naming the characters found."""

    def __init__(self, what: str, *, allow_blank: bool = False) -> None:
        super().__init__(BLANKABLE_NAME_PATTERN if allow_blank else NAME_PATTERN)
        self.what = what

    def __call__(self, value: Any) -> None:
        found = forbidden_characters(str(value))
        if found:
            raise serializers.ValidationError(
                NAME_REFUSED.format(what=self.what, found=", ".join(found)),
                code="invalid_characters")
        super().__call__(value)  # only spaces (when blank is not allowed)


class NameField(serializers.CharField):
    """The name of a thing: a string (strict), at most `max_length`, check_name's rule."""

    def __init__(self, *, what: str = "The name", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rule = NameRule(what, allow_blank=self.allow_blank)
        self.rule.message = f"{what} can't be only spaces."
        self.validators.append(self.rule)

    def run_validation(self, data: Any = empty) -> Any:
        if isinstance(data, str) and data:
            # The raw value, as the schema sees it: trimming must not hide a control character
            # or make an over-long value fit.
            self.rule(data)
            if self.max_length is not None and len(data) > self.max_length:
                self.fail("max_length", max_length=self.max_length)
        return super().run_validation(data)
