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
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import OpenApiParameter

    kinds = [
        (forms.IntegerField, OpenApiTypes.INT),
        (forms.FloatField, OpenApiTypes.FLOAT),
        (forms.DateTimeField, OpenApiTypes.DATETIME),
    ]
    parameters = []
    for name, field in form_class.base_fields.items():
        kind = next((t for cls, t in kinds if isinstance(field, cls)), OpenApiTypes.STR)
        choices = [value for value, _ in getattr(field, "choices", []) if value]
        parameters.append(
            OpenApiParameter(name, kind, enum=choices or None, description=field.help_text or "")
        )
    return parameters


def filterset_parameters(filterset_class) -> list:
    """OpenAPI query parameters for a FilterSet used by a plain APIView."""
    from django import forms
    from drf_spectacular.types import OpenApiTypes
    from drf_spectacular.utils import OpenApiParameter

    kinds = [
        (forms.IntegerField, OpenApiTypes.INT),
        (forms.FloatField, OpenApiTypes.FLOAT),
        (forms.DateTimeField, OpenApiTypes.DATETIME),
    ]
    parameters = []
    for name, filter_ in filterset_class.base_filters.items():
        field_class = filter_.field_class
        kind = next((t for cls, t in kinds if issubclass(field_class, cls)), OpenApiTypes.STR)
        if getattr(filter_, "lookup_expr", "") == "in":
            kind = OpenApiTypes.STR
        choices = filter_.extra.get("choices")
        parameters.append(
            OpenApiParameter(
                name,
                kind,
                enum=[value for value, _ in choices]
                if choices and kind == OpenApiTypes.STR and filter_.lookup_expr != "in"
                else None,
                description=filter_.label or "",
            )
        )
    return parameters
