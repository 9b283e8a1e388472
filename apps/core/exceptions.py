"""One error envelope for every layer.

`{"error": {"code", "message", "details", "request_id", "timestamp"}}` is what
DRF views, Django's own 400/403/404/500 handlers, the middleware and the
WebSocket consumers all answer with. Domain code raises `HeimdallError`
subclasses; nothing builds an error response by hand.
"""

import logging
import sys
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from apps.core.numbers import json_safe
from apps.core.outages import retry_after, unavailable_payload, unavailable_reason
from apps.core.request_id import get_request_id
from apps.core.timeutil import isoformat_z, utc_now

logger = logging.getLogger(__name__)


class HeimdallError(Exception):
    """A domain error with its HTTP status and envelope code."""

    status_code = 400
    code = "BAD_REQUEST"
    default_message = "The request could not be served."

    def __init__(self, message: str | None = None, details: dict | None = None):
        self.message = message or self.default_message
        self.details = details or {}
        super().__init__(self.message)


class ValidationFailed(HeimdallError):
    status_code = 400
    code = "VALIDATION_ERROR"
    default_message = "The request is not valid."

    @classmethod
    def for_field(cls, field: str, constraint: str, value: Any = None) -> "ValidationFailed":
        details = {"field": field, "constraint": constraint, "fields": {field: [constraint]}}
        if value is not None:
            details["value"] = value
        return cls(f"Invalid value for '{field}': {constraint}", details)

    @classmethod
    def for_errors(cls, errors) -> "ValidationFailed":
        """From a serializer's `errors` (any nesting): the first field in the message,
        how many more, and every field in `details.fields` (validation_details)."""
        details = validation_details(errors)
        more = len(details["fields"]) - 1
        return cls(
            f"Invalid value for '{details['field']}': {details['constraint']}"
            + (f" (and {more} more)" if more > 0 else ""),
            details,
        )


class NotFound(HeimdallError):
    status_code = 404
    code = "NOT_FOUND"
    default_message = "Not found."


class Conflict(HeimdallError):
    status_code = 409
    code = "CONFLICT"
    default_message = "The request conflicts with the current state."


class PermissionDenied(HeimdallError):
    status_code = 403
    code = "PERMISSION_DENIED"
    default_message = "You do not have permission to perform this action."


class PayloadTooLarge(HeimdallError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    default_message = "The request body is too large."


def envelope(code: str, message: str, details: dict | None = None) -> dict:
    """The error envelope. `details` is made JSON-safe (a non-finite number a client
    sent is echoed as the string "Infinity"/"NaN"): an error must always render."""
    return {
        "error": {
            "code": code,
            "message": message,
            "details": json_safe(details or {}),
            "request_id": get_request_id(),
            "timestamp": isoformat_z(utc_now()),
        }
    }


def error_json_response(status: int, code: str, message: str, details=None, headers=None):
    response = JsonResponse(envelope(code, message, details), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def service_unavailable_response(reason: str, response_class=None):
    """503 SERVICE_UNAVAILABLE with Retry-After: the pool, the database or Redis is out.

    `response_class` is DRF's Response inside views (content negotiation),
    else a plain JsonResponse.
    """
    code, message, details = unavailable_payload(reason)
    headers = {"Retry-After": str(retry_after(reason))}
    if response_class is not None:
        return response_class(envelope(code, message, details), status=503, headers=headers)
    return error_json_response(503, code, message, details, headers=headers)


# --- validation details ------------------------------------------------------


def flatten_validation_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as {"items[3].frequency_hz": ["..."]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "body" if key == "non_field_errors" and not prefix else str(key)
            path = f"{prefix}.{name}" if prefix else name
            if key == "non_field_errors" and prefix:
                path = prefix
            flat.update(flatten_validation_errors(value, path))
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            flat.setdefault(prefix or "body", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                if item in ({}, []):
                    continue  # list serializers report valid items as {}
                flat.update(flatten_validation_errors(item, f"{prefix}[{index}]"))
    else:
        flat.setdefault(prefix or "body", []).append(str(detail))
    return flat


def validation_details(detail: Any) -> dict:
    fields = flatten_validation_errors(detail)
    first_field, first_messages = next(iter(fields.items()), ("body", ["invalid"]))
    return {"field": first_field, "constraint": first_messages[0], "fields": fields}


# --- DRF ---------------------------------------------------------------------

_DRF_CODES = {
    drf.NotAuthenticated: "AUTHENTICATION_REQUIRED",
    drf.AuthenticationFailed: "INVALID_TOKEN",
    drf.PermissionDenied: "PERMISSION_DENIED",
    drf.NotFound: "NOT_FOUND",
    drf.MethodNotAllowed: "METHOD_NOT_ALLOWED",
    drf.NotAcceptable: "NOT_ACCEPTABLE",
    drf.UnsupportedMediaType: "UNSUPPORTED_MEDIA_TYPE",
    drf.Throttled: "RATE_LIMITED",
    drf.ParseError: "VALIDATION_ERROR",
}


def _drf_code(exc: drf.APIException) -> str:
    for cls in type(exc).__mro__:
        if cls in _DRF_CODES:
            return _DRF_CODES[cls]
    return "BAD_REQUEST" if exc.status_code < 500 else "INTERNAL_ERROR"


def api_exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's EXCEPTION_HANDLER: every exception becomes the envelope, none a 500 page."""
    headers: dict[str, str] = {}

    if isinstance(exc, HeimdallError):
        return Response(envelope(exc.code, exc.message, exc.details), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return Response(envelope(PayloadTooLarge.code, PayloadTooLarge.default_message), status=413)
    elif isinstance(exc, TokenError):
        exc = InvalidToken(str(exc))
    elif isinstance(exc, SuspiciousOperation):
        return Response(envelope("BAD_REQUEST", "The request was refused as unsafe."), 400)

    if isinstance(exc, drf.ValidationError):
        details = validation_details(exc.detail)
        message = f"Invalid value for '{details['field']}': {details['constraint']}"
        return Response(envelope("VALIDATION_ERROR", message, details), status=400)

    if isinstance(exc, drf.APIException):
        code = _drf_code(exc)
        details: dict = {}
        message = str(exc.detail) if not isinstance(exc.detail, dict | list) else exc.default_detail
        if isinstance(exc, InvalidToken) and isinstance(exc.detail, dict):
            message = str(exc.detail.get("detail", "Token is invalid or expired"))
        if isinstance(exc, drf.ParseError):
            details = {"field": "body", "constraint": "must be well-formed JSON"}
        if isinstance(exc, drf.Throttled):
            wait = int(exc.wait or 1)
            headers["Retry-After"] = str(max(wait, 1))
            message = f"Too many requests: retry in {max(wait, 1)} s."
            details = {"retry_after_seconds": max(wait, 1)}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        return Response(envelope(code, message, details), status=exc.status_code, headers=headers)

    reason = unavailable_reason(exc)
    if reason is not None:
        logger.warning("503 %s in %s: %s", reason, context.get("view").__class__.__name__, exc)
        return service_unavailable_response(reason, Response)
    logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
    return Response(envelope("INTERNAL_ERROR", "An internal error occurred."), status=500)


# --- Django's handlers (errors raised outside DRF views) ----------------------


def _wants_json(request) -> bool:
    path = request.path
    return (
        path.startswith("/api/")
        or path.rstrip("/") == "/health"
        or "application/json" in request.headers.get("Accept", "")
    )


def handler400(request, exception=None):
    if _wants_json(request):
        from django.core.exceptions import DisallowedHost

        if isinstance(exception, DisallowedHost):
            # Name the field, not ALLOWED_HOSTS (Django's message suggests adding it there).
            host = request.META.get("HTTP_HOST", "")[:200]
            return error_json_response(
                400, "BAD_REQUEST", f"Host '{host}' is not served here.",
                {"field": "Host", "value": host},
            )  # fmt: skip
        return error_json_response(400, "BAD_REQUEST", "Bad request.")
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request, exception=None):
    if _wants_json(request):
        return error_json_response(403, "PERMISSION_DENIED", "Permission denied.")
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


def handler404(request, exception=None):
    if _wants_json(request):
        return error_json_response(404, "NOT_FOUND", f"No resource at {request.path}.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    # Django calls this inside its `except` block (asgiref carries the
    # exception into the thread), so the error is still at hand: an outage in
    # a middleware or a non-API view is a 503, not a 500.
    reason = unavailable_reason(sys.exc_info()[1]) if sys.exc_info()[1] else None
    if reason is not None:
        response = service_unavailable_response(reason)
        if not _wants_json(request):
            from django.http import HttpResponse

            response = HttpResponse(
                unavailable_payload(reason)[1], status=503, content_type="text/plain"
            )
            response["Retry-After"] = str(retry_after(reason))
        return response
    if _wants_json(request):
        return error_json_response(500, "INTERNAL_ERROR", "An internal error occurred.")
    from django.views.defaults import server_error

    return server_error(request)
