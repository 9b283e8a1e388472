"""drf-spectacular adjustments: Heimdall's URL style, and a schema that tells the truth.

`HeimdallAutoSchema` adds to every operation what the view's own annotations
cannot know: the error envelope for each status the layers below the view can
answer (validation 400, 401/403 from authentication and permissions, 404 for a
path that names nothing, 409, 413 over HEIMDALL_MAX_REQUEST_BYTES, 415, 429
from the rate limit, 503 when the database cannot serve), and the headers every
response carries (`X-Request-ID`, the rate-limit headers, `Retry-After`).
"""

import re

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent


def strip_optional_slash(endpoints, **kwargs):
    """Paths are matched by `.../?$`; document them as the seeds write them, without the slash."""
    return [
        (path.rstrip("/") if path != "/" else path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
    ]


ERROR_CODES = [
    "VALIDATION_ERROR",
    "BAD_REQUEST",
    "AUTHENTICATION_REQUIRED",
    "INVALID_TOKEN",
    "INVALID_CREDENTIALS",
    "PERMISSION_DENIED",
    "NOT_FOUND",
    "METHOD_NOT_ALLOWED",
    "NOT_ACCEPTABLE",
    "CONFLICT",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "RATE_LIMITED",
    "SERVICE_UNAVAILABLE",
    "INTERNAL_ERROR",
]

ERROR_ENVELOPE = {
    "type": "object",
    "description": "Every error, from any layer, in the seed's envelope.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details", "request_id", "timestamp"],
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Machine-readable code, e.g. " + ", ".join(ERROR_CODES),
                    "example": "VALIDATION_ERROR",
                },
                "message": {"type": "string"},
                "details": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "For validation errors: `field` (the first bad field, "
                    "e.g. `detections[2].frequency_hz`), `constraint`, `fields` (every bad "
                    "field with its messages) and `value` when it can be shown.",
                },
                "request_id": {"type": "string", "description": "Equals X-Request-ID"},
                "timestamp": {"type": "string", "format": "date-time"},
            },
        }
    },
}

HEADERS = {
    "X-Request-ID": {
        "description": "The request's id (echoed from the request when it sent a sane one).",
        "schema": {"type": "string"},
        "required": True,
    },
    "X-RateLimit-Limit": {
        "description": "Requests allowed per window (HEIMDALL_RATE_LIMIT_USER / _ANON).",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Remaining": {
        "description": "Requests left in the current window.",
        "schema": {"type": "integer"},
    },
    "X-RateLimit-Reset": {
        "description": "When the window resets, seconds since the Unix epoch.",
        "schema": {"type": "integer"},
    },
    "Retry-After": {
        "description": "Seconds to wait before retrying.",
        "schema": {"type": "integer"},
        "required": True,
    },
}
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")

# status → (response component name, description)
ERROR_RESPONSES = {
    400: ("BadRequest", "The request is not valid (VALIDATION_ERROR; `details.field` names the "
          "parameter or body field) or was refused as malformed (BAD_REQUEST)."),
    401: ("Unauthorized", "No credentials (AUTHENTICATION_REQUIRED), or a bad or expired token "
          "(INVALID_TOKEN), or wrong login credentials (INVALID_CREDENTIALS)."),
    403: ("Forbidden", "The caller's role or object permissions do not allow this "
          "(PERMISSION_DENIED)."),
    404: ("NotFound", "The path names nothing that exists, or nothing the caller may see "
          "(NOT_FOUND)."),
    409: ("Conflict", "The request conflicts with the current state (CONFLICT)."),
    413: ("PayloadTooLarge", "The body is over HEIMDALL_MAX_REQUEST_BYTES (16 MiB by default), or "
          "holds more items than the endpoint takes (PAYLOAD_TOO_LARGE)."),
    422: ("UnprocessableContent", "The stored object the request needs is not usable, e.g. a "
          "model bundle that fails its check (INVALID_BUNDLE; `details.invalid_reason`)."),
    415: ("UnsupportedMediaType", "The body is not `application/json` (UNSUPPORTED_MEDIA_TYPE)."),
    429: ("TooManyRequests", "Over the rate limit (RATE_LIMITED); `Retry-After` says when to "
          "retry."),
    503: ("ServiceUnavailable", "The service cannot serve now (e.g. no database connection "
          "free); retry after `Retry-After` seconds."),
}  # fmt: skip
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _register(registry, kind: str, name: str, schema: dict) -> dict:
    component = ResolvedComponent(name=name, type=kind, schema=schema, object=name)
    registry.register_on_missing(component)
    return component.ref


class HeimdallAutoSchema(AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is not None:
            self._declare_envelope(operation, path)
            for parameter in operation.get("parameters", []):
                # Heimdall's query validation reads an empty optional parameter as absent
                # (`?status=` lists everything), and the schema says so.
                if parameter["in"] == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True
        return operation

    def _headers(self, names) -> dict:
        return {
            name: _register(self.registry, ResolvedComponent.HEADER, name, HEADERS[name])
            for name in names
        }

    def _declare_envelope(self, operation: dict, path: str) -> None:
        """Headers on every response; the error envelope for every status this operation
        can answer with, as reusable components."""
        is_api = path.startswith("/api/")
        success_headers = self._headers(
            ("X-Request-ID", *RATE_HEADERS) if is_api else ["X-Request-ID"]
        )
        for response in operation["responses"].values():
            response.setdefault("headers", {}).update(success_headers)
        if not is_api:
            return
        envelope_ref = _register(
            self.registry, ResolvedComponent.SCHEMA, "ErrorEnvelope", ERROR_ENVELOPE
        )
        for status in self._error_statuses(operation):
            name, description = ERROR_RESPONSES[status]
            headers = dict(success_headers)
            if status in (429, 503):
                headers.update(self._headers(["Retry-After"]))
            ref = _register(
                self.registry,
                ResolvedComponent.RESPONSE,
                name,
                {
                    "description": description,
                    "headers": headers,
                    "content": {"application/json": {"schema": envelope_ref}},
                },
            )
            operation["responses"].setdefault(str(status), ref)

    def _error_statuses(self, operation: dict) -> list[int]:
        from rest_framework.permissions import AllowAny

        statuses = [400, 401, 429, 503]
        if not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            statuses.append(403)
        if "{" in self.path:
            statuses.append(404)
        if self.method in WRITE_METHODS:
            statuses.append(409)
        if "requestBody" in operation or self.method in ("POST", "PUT", "PATCH"):
            statuses += [413, 415]
        # What only the view knows, e.g. a 404 for a query parameter naming nothing, or a
        # 422 for an unusable bundle: `extra_error_statuses = (404,)` on the view.
        statuses += getattr(self.view, "extra_error_statuses", ())
        return sorted(set(statuses))

    def get_operation_id(self):
        """`StationDetailView` + PUT → `station_detail_update`: unique, and readable in SDKs."""
        if getattr(self.view, "action", None):  # viewsets keep spectacular's naming
            return super().get_operation_id()
        name = self.view.__class__.__name__.removesuffix("View")
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
        verbs = {"get": "retrieve", "post": "create", "put": "update", "patch": "partial_update",
                 "delete": "destroy"}  # fmt: skip
        return f"{snake}_{verbs.get(self.method.lower(), self.method.lower())}"


def field_schema(field) -> dict:
    """The OpenAPI schema of one Django form field, bounds included.

    Bounds are read from the field's own validators (`min_value`, `max_value`,
    `max_length`) and choices: what validation refuses is what the schema says.
    """
    from django import forms
    from django.core import validators
    from django_filters.fields import BaseCSVField

    from apps.core.filters import StrictBooleanField

    if isinstance(field, BaseCSVField):  # `a,b,c`: a string, not one of the choices
        schema = {"type": "string"}
        choices = [value for value, _ in getattr(field, "choices", []) if value]
        if choices:
            schema["description"] = f"Comma-separated, each one of: {', '.join(choices)}"
    elif isinstance(field, forms.IntegerField):
        schema = {"type": "integer"}
    elif isinstance(field, forms.FloatField):
        schema = {"type": "number"}
    elif isinstance(field, forms.DateTimeField):
        schema = {"type": "string", "format": "date-time"}
    elif isinstance(field, forms.NullBooleanField | StrictBooleanField):
        schema = {"type": "boolean"}
    else:
        schema = {"type": "string"}
        choices = [value for value, _ in getattr(field, "choices", []) if value]
        if choices and isinstance(field, forms.ChoiceField):
            schema["enum"] = choices
    for validator in field.validators:
        if isinstance(validator, validators.MinValueValidator):
            schema["minimum"] = validator.limit_value
        elif isinstance(validator, validators.MaxValueValidator):
            schema["maximum"] = validator.limit_value
        elif isinstance(validator, validators.MaxLengthValidator) and schema["type"] == "string":
            schema["maxLength"] = validator.limit_value
    return schema


def form_parameters(form_class) -> list:
    """OpenAPI query parameters for a Django form that validates a plain APIView's query."""
    from drf_spectacular.utils import OpenApiParameter

    parameters = []
    for name, field in form_class.base_fields.items():
        description = field.help_text or (field.label if isinstance(field.label, str) else "")
        parameters.append(
            OpenApiParameter(
                name, field_schema(field), required=field.required, description=description
            )
        )
    return parameters


def filterset_parameters(filterset_class) -> list:
    """OpenAPI query parameters for a FilterSet used by a plain APIView."""
    return form_parameters(type(filterset_class().form))
