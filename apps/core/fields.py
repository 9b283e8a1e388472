"""Request bodies as JSON means them: typed fields, and no key silently dropped.

`JSONFloatField`, `JSONIntegerField`, `JSONBooleanField` take JSON's own types (a
number field a JSON number, a boolean field `true` or `false`);
`RefuseUnknownFields` makes a request serializer name a key it does not know.

DRF's fields coerce: `FloatField` reads `true` as 1.0 and `"52"` as 52.0,
`IntegerField` reads `"7"` as 7, `BooleanField` reads `"yes"`, `"off"`, `1` and
`0`. The API speaks JSON only (415 for anything else), so a string or a
boolean where a number belongs is a client's mistake, not a number — the
detection ingest has always refused them, and every other body does the
same with these fields: a 400 naming the field. `-0.0` is stored as `0.0`.

HTML forms (the console) send strings: `apps.dashboard.forms.data_from_post`
turns them into JSON values first, so a form and the API share one check.
"""

import math

from rest_framework import serializers

NUMBER = "must be a number (a JSON number, not a string or a boolean)"
INTEGER = "must be an integer (a JSON number, not a string or a boolean)"
BOOLEAN = "must be true or false (a JSON boolean)"
FINITE = "must be a finite number"


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class JSONFloatField(serializers.FloatField):
    """A FloatField that takes a finite JSON number only."""

    def to_internal_value(self, data):
        if isinstance(data, str) and not _numeric(data):
            self.fail("invalid")  # DRF's own "A valid number is required."
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise serializers.ValidationError(NUMBER, code="invalid")
        if isinstance(data, float) and not math.isfinite(data):
            raise serializers.ValidationError(FINITE, code="invalid")
        return super().to_internal_value(data) + 0.0  # -0.0 → 0.0


class JSONIntegerField(serializers.IntegerField):
    """An IntegerField that takes a JSON integer only (`3.0` is 3; `3.5`, `"3"`, `true`
    are refused)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and not _numeric(data):
            self.fail("invalid")  # DRF's own "A valid integer is required."
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise serializers.ValidationError(INTEGER, code="invalid")
        if isinstance(data, float) and not (math.isfinite(data) and data.is_integer()):
            raise serializers.ValidationError(INTEGER, code="invalid")
        return super().to_internal_value(int(data))


class JSONBooleanField(serializers.BooleanField):
    """A BooleanField that takes `true` or `false` only."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            raise serializers.ValidationError(BOOLEAN, code="invalid")
        return data


def json_typed_mapping(mapping: dict) -> dict:
    """`ModelSerializer.serializer_field_mapping` with numbers and booleans JSON-typed."""
    replaced = {
        serializers.FloatField: JSONFloatField,
        serializers.IntegerField: JSONIntegerField,
        serializers.BooleanField: JSONBooleanField,
    }
    return {model_field: replaced.get(field, field) for model_field, field in mapping.items()}


class RefuseUnknownFields:
    """For request serializers: a key the serializer does not know is a 400 naming it
    ("unknown field"), never dropped with a 2xx — a typo such as `descripton` would
    otherwise store nothing of what the client meant. Keys of read-only fields are known
    (a client may PUT back the representation it read). Put it before the serializer
    class: `class X(RefuseUnknownFields, serializers.Serializer)`. `ignored_fields` names
    keys a seed's clients send that Heimdall documents as ignored."""

    ignored_fields: tuple[str, ...] = ()

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields) - set(self.ignored_fields))
            if unknown:
                raise serializers.ValidationError({key: ["unknown field"] for key in unknown})
        return super().to_internal_value(data)
