"""HTML forms over the API's own serializers: one set of fields, ranges, defaults and errors.

A console form posts the fields of the serializer the API validates with
(seed 000's TrainingConfig, the dataset generator's parameters, a station);
`serializer_fields` lays them out with their defaults and limits, and
`validate` runs the very same serializer, so a value the API refuses is
refused here with the same message, shown beside its field.
"""

from dataclasses import dataclass, field

from rest_framework import serializers

from apps.core.exceptions import flatten_validation_errors


@dataclass
class FormField:
    name: str
    kind: str  # "int", "float", "bool", "choice", "text", "textarea", "json"
    value: object
    default: object = None
    minimum: object = None
    maximum: object = None
    choices: list = field(default_factory=list)
    required: bool = False
    errors: list[str] = field(default_factory=list)
    help_text: str = ""

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")

    @property
    def step(self) -> str:
        return "1" if self.kind == "int" else "any"


def _kind(f: serializers.Field) -> str:
    if isinstance(f, serializers.BooleanField):
        return "bool"
    if isinstance(f, serializers.ChoiceField):
        return "choice"
    if isinstance(f, serializers.IntegerField):
        return "int"
    if isinstance(f, serializers.FloatField):
        return "float"
    if isinstance(f, serializers.JSONField | serializers.DictField):
        return "json"
    return "text"


def _default(f: serializers.Field):
    default = f.default
    if default is serializers.empty:
        return None
    return default() if callable(default) else default


def _errors_for(errors: dict, key: str) -> list[str]:
    """The field's own messages, and its parts' as "api_type: must be one of ..."."""
    found = list(errors.get(key, []))
    for name, messages in errors.items():
        if name.startswith((f"{key}.", f"{key}[")):
            part = name[len(key) :].lstrip(".")
            found += [f"{part}: {message}" for message in messages]
    return found


def serializer_fields(
    serializer_class, values: dict | None = None, errors: dict | None = None, *,
    only: list[str] | None = None, prefix: str = "",
) -> list[FormField]:  # fmt: skip
    """The serializer's writable fields as form fields, filled with `values` (else defaults)."""
    values = values or {}
    errors = errors or {}
    found = []
    for name, f in serializer_class().fields.items():
        if f.read_only or (only is not None and name not in only):
            continue
        kind = _kind(f)
        default = _default(f)
        value = values.get(name, default)
        found.append(
            FormField(
                name=name,
                kind=kind,
                value=value,
                default=default,
                minimum=getattr(f, "min_value", None),
                maximum=getattr(f, "max_value", None),
                choices=list(f.choices.items()) if kind == "choice" else [],
                required=f.required,
                errors=_errors_for(errors, f"{prefix}{name}"),
                help_text=str(f.help_text or ""),
            )
        )
    return found


def data_from_post(serializer_class, post, *, only: list[str] | None = None) -> dict:
    """The submitted form as the serializer's input.

    Empty inputs are left out (the serializer's default applies) or sent as
    None for nullable fields; a checkbox that is not ticked is False (the form
    always shows every checkbox, so its absence is an answer).
    """
    data: dict = {}
    for name, f in serializer_class().fields.items():
        if f.read_only or (only is not None and name not in only):
            continue
        if isinstance(f, serializers.BooleanField):
            data[name] = name in post and post.get(name) not in ("", "false", "off", "0")
            continue
        if name not in post:
            continue
        raw = post.get(name)
        if raw == "" or raw is None:
            if getattr(f, "allow_null", False):
                data[name] = None
            elif isinstance(f, serializers.CharField) and not f.required:
                data[name] = ""
            continue
        data[name] = _json_value(f, raw.strip() if isinstance(raw, str) else raw)
    return data


def _json_value(f: serializers.Field, raw):
    """A form's text as the JSON value the API takes (apps.core.fields): "3" → 3 for an
    integer field, "0.2" → 0.2 for a number field. Text that is no number stays text,
    so the serializer refuses it with its own message."""
    numeric = serializers.IntegerField | serializers.FloatField
    if not isinstance(raw, str) or not isinstance(f, numeric):
        return raw
    try:
        number = float(raw)
    except ValueError:
        return raw
    if isinstance(f, serializers.IntegerField):
        try:
            return int(raw)
        except ValueError:
            return number
    return number


def validate(serializer_class, data: dict, **kwargs) -> tuple[dict | None, dict[str, list[str]]]:
    """(validated data, {}) or (None, {"field": ["message", ...]}) — the API's own check."""
    serializer = serializer_class(data=data, **kwargs)
    if serializer.is_valid():
        return dict(serializer.validated_data), {}
    return None, flatten_validation_errors(serializer.errors)
