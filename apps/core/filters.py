"""Shared filter building blocks: strict FilterSets whose errors name the parameter."""

from datetime import UTC

import django_filters
from django import forms
from django.utils import timezone

from apps.core.exceptions import ValidationFailed
from apps.core.numbers import BoundedIntegerField


class _InUTC:
    """An ISO 8601 date-time, given back in UTC. Offsets PostgreSQL cannot take
    (`-22:24`: it allows ±15:59) and instants outside years 1-9999 once in UTC
    (`0001-01-01T00:00+01:00`) are the parameter's 400, not a database error."""

    default_error_messages = {"overflow": "is outside the years 1-9999 once converted to UTC."}

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            if timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed, UTC)
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["overflow"], code="overflow") from None


class UTCDateTimeField(_InUTC, forms.DateTimeField):
    """forms.DateTimeField in UTC (see _InUTC)."""


class _UTCIsoDateTimeField(_InUTC, django_filters.fields.IsoDateTimeField):
    pass


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    """IsoDateTimeFilter whose value is in UTC (see _InUTC)."""

    field_class = _UTCIsoDateTimeField


class StrictFilterSet(django_filters.FilterSet):
    """A FilterSet that raises the envelope's 400 instead of silently ignoring bad input."""

    def validated_queryset(self):
        if not self.is_valid():
            raise form_error(self.form)
        return self.qs


def form_error(form: forms.Form) -> ValidationFailed:
    """The envelope's 400 for an invalid form: the first bad field, and all of them."""
    fields = {
        ("body" if name == "__all__" else name): [str(m) for m in messages]
        for name, messages in form.errors.items()
    }
    first = next(iter(fields))
    return ValidationFailed(
        f"Invalid value for '{first}': {fields[first][0]}",
        {"field": first, "constraint": fields[first][0], "fields": fields,
         "value": form.data.get(first)},
    )  # fmt: skip


def validated(form: forms.Form) -> dict:
    """`form.cleaned_data`, or the envelope's 400 naming the first bad field."""
    if not form.is_valid():
        raise form_error(form)
    return form.cleaned_data


class RangeCheckedForm(forms.Form):
    """Refuses inverted ranges; `ranges` lists (low field, high field) pairs."""

    ranges: list[tuple[str, str]] = []

    def clean(self):
        cleaned = super().clean()
        for low, high in self.ranges:
            low_value, high_value = cleaned.get(low), cleaned.get(high)
            if low_value is not None and high_value is not None and high_value < low_value:
                self.add_error(high, f"must not be before {low}")
        return cleaned


def choice_field(values: list[str], **kwargs) -> forms.ChoiceField:
    """An optional choice among `values` ("" or absent: not given)."""
    return forms.ChoiceField(
        required=False, choices=[("", "")] + [(v, v) for v in values], **kwargs
    )


class OneOfFilter(django_filters.ChoiceFilter):
    """One of `choices` (values or (value, label) pairs); "" or absent: not given.

    Anything else is the envelope's 400 naming the parameter with
    "must be one of a, b, c" (the schema lists the same values as its `enum`).
    """

    def __init__(self, *args, choices, **kwargs):
        pairs = [tuple(c) if isinstance(c, list | tuple) else (c, c) for c in choices]
        values = ", ".join(str(value) for value, _ in pairs)
        kwargs.setdefault("error_messages", {"invalid_choice": f"must be one of {values}"})
        super().__init__(*args, choices=pairs, **kwargs)


class IntegerFilter(django_filters.NumberFilter):
    """Bounded: the int64 range unless the filter is given min_value/max_value."""

    field_class = BoundedIntegerField


class FloatFilter(django_filters.NumberFilter):
    field_class = forms.FloatField  # refuses NaN and infinity


class StrictBooleanField(forms.Field):
    """true/false/1/0 (any case); anything else is an error, not a silent 'no filter'."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise forms.ValidationError("must be true or false")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField
