"""drf-spectacular adjustments for Heimdall's URL style."""

import re

from drf_spectacular.openapi import AutoSchema


def strip_optional_slash(endpoints, **kwargs):
    """Paths are matched by `.../?$`; document them as the seeds write them, without the slash."""
    return [
        (path.rstrip("/") if path != "/" else path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
    ]


class HeimdallAutoSchema(AutoSchema):
    def get_operation_id(self):
        """`StationDetailView` + PUT → `station_detail_update`: unique, and readable in SDKs."""
        if getattr(self.view, "action", None):  # viewsets keep spectacular's naming
            return super().get_operation_id()
        name = self.view.__class__.__name__.removesuffix("View")
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        verbs = {"get": "retrieve", "post": "create", "put": "update", "patch": "partial_update",
                 "delete": "destroy"}  # fmt: skip
        return f"{snake}_{verbs.get(self.method.lower(), self.method.lower())}"


def form_parameters(form_class) -> list:
    """OpenAPI query parameters for a Django form that validates a plain APIView's query."""
    from django import forms
    from django_filters.fields import BaseCSVField
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import OpenApiParameter

    kinds = [
        (forms.IntegerField, OpenApiTypes.INT),
        (forms.FloatField, OpenApiTypes.FLOAT),
        (forms.DateTimeField, OpenApiTypes.DATETIME),
    ]
    parameters = []
    for name, field in form_class.base_fields.items():
        if isinstance(field, BaseCSVField):  # `a,b,c`: a string, not one of the choices
            kind, choices = OpenApiTypes.STR, []
        else:
            kind = next((t for cls, t in kinds if isinstance(field, cls)), OpenApiTypes.STR)
            choices = [value for value, _ in getattr(field, "choices", []) if value]
        description = field.help_text or (field.label if isinstance(field.label, str) else "")
        parameters.append(
            OpenApiParameter(name, kind, enum=choices or None, description=description or "")
        )
    return parameters


def filterset_parameters(filterset_class) -> list:
    """OpenAPI query parameters for a FilterSet used by a plain APIView."""
    return form_parameters(type(filterset_class().form))
