"""Names and free text, normalised once before validation and uniqueness checks.

Every name or free-text field a client writes goes through `clean_text`
(services) or `NameField` / `FreeTextField` (serializers):

* Unicode NFC (`"Cafe\\u0301"` and `"Café"` are one name);
* trimmed at both ends of whitespace and of invisible characters
  (zero-width spaces and joiners, BOM, bidi marks, Hangul fillers): they
  cannot be seen, so they cannot tell two names apart;
* a name must hold at least one visible character (`"\\u200b"` alone is a 400);
* control characters are refused (free text may hold newlines and tabs);
* the length is counted after normalisation.

Inner invisible characters are kept: emoji sequences need their joiners.
"""

import unicodedata

from django import forms
from rest_framework import serializers

from apps.core.exceptions import ValidationFailed

# Letters and symbols that render as blank space.
_BLANK_CHARACTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
_INVISIBLE_CATEGORIES = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn", "Mn", "Me"})
_ALLOWED_CONTROLS_MULTILINE = frozenset("\n\t\r")


def _invisible(char: str) -> bool:
    return char in _BLANK_CHARACTERS or unicodedata.category(char) in _INVISIBLE_CATEGORIES


def _edge_invisible(char: str) -> bool:
    # Combining marks at the start attach to nothing; at the end they belong to the
    # letter before them, so only spacing/format/control characters are trimmed there.
    return char in _BLANK_CHARACTERS or unicodedata.category(char) in {
        "Zs", "Zl", "Zp", "Cc", "Cf",
    }  # fmt: skip


def normalize_text(value: str) -> str:
    """NFC, with whitespace and invisible characters trimmed from both ends."""
    text = unicodedata.normalize("NFC", value)
    start, end = 0, len(text)
    while start < end and _edge_invisible(text[start]):
        start += 1
    while end > start and _edge_invisible(text[end - 1]):
        end -= 1
    return text[start:end]


def text_problem(text: str, *, max_length: int, required: bool, multiline: bool) -> str | None:
    """Why the normalised `text` is not acceptable, or None."""
    if len(text) > max_length:
        return f"must be at most {max_length} characters"
    for char in text:
        if unicodedata.category(char) == "Cc" and not (
            multiline and char in _ALLOWED_CONTROLS_MULTILINE
        ):
            return "must not contain control characters"
    if required and all(_invisible(char) for char in text):
        return "is required: at least one visible character" if not text else (
            "must contain at least one visible character"
        )  # fmt: skip
    return None


def clean_text(
    value, *, field: str, max_length: int, required: bool = True, multiline: bool = False
) -> str:
    """`value` normalised (module docstring), or the envelope's 400 naming `field`.

    A missing optional value (None) is "".
    """
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed.for_field(field, "must be a string")
    text = normalize_text(value)
    problem = text_problem(text, max_length=max_length, required=required, multiline=multiline)
    if problem:
        raise ValidationFailed.for_field(field, problem)
    return text


class NameField(serializers.CharField):
    """A serializer CharField holding a name: normalised, at least one visible character."""

    multiline = False

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 255)
        kwargs["trim_whitespace"] = False  # normalize_text trims more than whitespace
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        text = normalize_text(data)
        if text == "" and self.allow_blank:
            return ""
        problem = text_problem(
            text,
            max_length=self.max_length,
            required=not self.allow_blank,
            multiline=self.multiline,
        )
        if problem:
            raise serializers.ValidationError(problem)
        return text


class FreeTextField(NameField):
    """Free text (descriptions, notes): newlines allowed, may be blank unless told not to."""

    multiline = True

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("max_length", 5000)
        super().__init__(**kwargs)


# --- Django forms and admin -------------------------------------------------------------


class NormalizedTextFormField(forms.CharField):
    """A form CharField with the same rules (for Django admin and operator pages)."""

    def __init__(self, *, multiline: bool = False, **kwargs):
        self.multiline = multiline
        kwargs["strip"] = False
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return normalize_text(value) if isinstance(value, str) else value

    def validate(self, value):
        super().validate(value)  # "required" on the normalised text
        if value in self.empty_values:
            return
        problem = text_problem(
            value,
            max_length=self.max_length or 1_000_000,
            required=True,
            multiline=self.multiline,
        )
        if problem:
            raise forms.ValidationError(problem, code="invalid")


class NormalizedTextAdminMixin:
    """ModelAdmin mixin: `normalized_text_fields = {"name": False, "description": True}`
    (field → multiline) get NormalizedTextFormField, so admin edits obey the API's rules."""

    normalized_text_fields: dict[str, bool] = {}

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in self.normalized_text_fields:
            kwargs["form_class"] = NormalizedTextFormField
            field = super().formfield_for_dbfield(db_field, request, **kwargs)
            field.multiline = self.normalized_text_fields[db_field.name]
            return field
        return super().formfield_for_dbfield(db_field, request, **kwargs)
