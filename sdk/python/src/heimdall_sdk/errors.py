"""Typed exceptions carrying Heimdall's error envelope (docs/api.md, "Errors").

Every non-2xx answer becomes one of the classes below, chosen by HTTP status
(and, for 401, by the envelope's `code`). Each carries the envelope's
`code`, `message`, `details` (e.g. `details["field"]` names the offending
field), `request_id` (the `X-Request-ID` the server logged) and `timestamp`,
plus `status` and, where given, `retry_after` (seconds).
"""

from typing import Any


class HeimdallError(Exception):
    """The base of every SDK error."""


class TransportError(HeimdallError):
    """The server could not be reached (connection refused, reset, timed out)."""


class APIError(HeimdallError):
    """An error answer from Heimdall: status and the seed's envelope."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
        timestamp: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.request_id = request_id
        self.timestamp = timestamp
        self.retry_after = retry_after

    @property
    def field(self) -> str | None:
        """The (first) offending field, as `details.field` names it."""
        return self.details.get("field")


class ValidationError(APIError):
    """400 VALIDATION_ERROR: `field` names the offending input."""


class AuthenticationError(APIError):
    """401: no credentials (AUTHENTICATION_REQUIRED) or wrong ones (INVALID_CREDENTIALS)."""


class InvalidTokenError(AuthenticationError):
    """401 INVALID_TOKEN: a bad, expired, spent or revoked token or API key."""


class PermissionDeniedError(APIError):
    """403 PERMISSION_DENIED."""


class NotFoundError(APIError):
    """404 NOT_FOUND."""


class MethodNotAllowedError(APIError):
    """405 METHOD_NOT_ALLOWED."""


class ConflictError(APIError):
    """409 CONFLICT (a duplicate name, an id sent again with other content, ...)."""


class PayloadTooLargeError(APIError):
    """413 PAYLOAD_TOO_LARGE."""


class UnsupportedMediaTypeError(APIError):
    """415 UNSUPPORTED_MEDIA_TYPE."""


class UnprocessableError(APIError):
    """422: the request is well-formed but cannot be done (e.g. INVALID_BUNDLE)."""


class RateLimitedError(APIError):
    """429 RATE_LIMITED, after the client's retries ran out; `retry_after` in seconds."""


class ServerError(APIError):
    """5xx: INTERNAL_ERROR, or SERVICE_UNAVAILABLE (with `retry_after`) after retries."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableError,
    429: RateLimitedError,
}


def error_from_response(status: int, body: Any, headers: dict[str, str] | None = None) -> APIError:
    """The exception for an error answer (`body` the decoded JSON, or None)."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    envelope = body.get("error") if isinstance(body, dict) else None
    if not isinstance(envelope, dict):
        envelope = {"code": f"HTTP_{status}", "message": str(body)[:500] if body else ""}
    code = str(envelope.get("code", f"HTTP_{status}"))
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else APIError)
    if status == 401 and code == "INVALID_TOKEN":
        cls = InvalidTokenError
    retry_after = None
    if "retry-after" in headers:
        try:
            retry_after = float(headers["retry-after"])
        except ValueError:
            retry_after = None
    return cls(
        status,
        code,
        str(envelope.get("message", "")),
        envelope.get("details") or {},
        envelope.get("request_id") or headers.get("x-request-id"),
        envelope.get("timestamp"),
        retry_after,
    )


class WebSocketClosedError(HeimdallError):
    """A socket closed for good: the code (docs/websockets.md) says why."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"WebSocket closed with {code}: {reason}")
        self.code = code
        self.reason = reason


class AnalysisFailedError(HeimdallError):
    """A recording's analysis ended `failed` (`recordings.wait_for_analysis`):
    `recording` is the recording as last read, `analysis_error` what went wrong."""

    def __init__(self, recording: Any) -> None:
        self.recording = recording
        self.analysis_error = getattr(recording, "analysis_error", None)
        super().__init__(f"analysis of recording {recording.id} failed: {self.analysis_error}")
