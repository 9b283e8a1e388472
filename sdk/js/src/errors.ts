/**
 * Typed errors. Every HTTP error from Heimdall arrives in the seed's envelope
 * `{"error": {"code", "message", "details", "request_id", "timestamp"}}`
 * (apps/core/exceptions.py); the SDK raises a subclass of `HeimdallAPIError`
 * chosen by the HTTP status, carrying those fields.
 */

/** The error envelope's inner object, as the OpenAPI schema's `ErrorEnvelope` has it. */
export interface ErrorBody {
  code: string;
  message: string;
  details: Record<string, unknown>;
  request_id: string;
  timestamp: string;
}

/** Base class of everything the SDK throws. */
export class HeimdallError extends Error {
  override name = "HeimdallError";
}

/** An HTTP answer of 4xx/5xx: the envelope's fields plus the status and headers. */
export class HeimdallAPIError extends HeimdallError {
  override name = "HeimdallAPIError";
  readonly status: number;
  /** Machine-readable code, e.g. VALIDATION_ERROR, NOT_FOUND, RATE_LIMITED. */
  readonly code: string;
  /** e.g. `{field: "frequency_min", constraint: "..."}` for VALIDATION_ERROR. */
  readonly details: Record<string, unknown>;
  /** The server's X-Request-ID: quote it when reporting a problem. */
  readonly requestId: string | null;
  readonly timestamp: string | null;
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  /** The body as received (the envelope, or text when it was not JSON). */
  readonly body: unknown;

  constructor(init: {
    status: number;
    error: Partial<ErrorBody>;
    method: string;
    url: string;
    headers: Headers;
    body: unknown;
  }) {
    const code = init.error.code ?? `HTTP_${init.status}`;
    super(`${init.status} ${code}: ${init.error.message ?? "no message"} (${init.method} ${init.url})`);
    this.status = init.status;
    this.code = code;
    this.details = init.error.details ?? {};
    this.requestId = init.error.request_id ?? init.headers.get("x-request-id");
    this.timestamp = init.error.timestamp ?? null;
    this.method = init.method;
    this.url = init.url;
    this.headers = init.headers;
    this.body = init.body;
  }

  /** The envelope's message (Error.message also names the status, code and request). */
  get serverMessage(): string {
    const error = (this.body as { error?: { message?: string } } | null)?.error;
    return error?.message ?? "";
  }

  /** The field a VALIDATION_ERROR names (`details.field`), if any. */
  get field(): string | undefined {
    const field = this.details["field"];
    return typeof field === "string" ? field : undefined;
  }
}

/** 400: VALIDATION_ERROR or BAD_REQUEST; `field` names the bad input. */
export class ValidationError extends HeimdallAPIError {
  override name = "ValidationError";
}
/** 401: AUTHENTICATION_REQUIRED, INVALID_TOKEN, INVALID_CREDENTIALS. */
export class AuthenticationError extends HeimdallAPIError {
  override name = "AuthenticationError";
}
/** 403: PERMISSION_DENIED (the role or the object's share does not allow it). */
export class PermissionDeniedError extends HeimdallAPIError {
  override name = "PermissionDeniedError";
}
/** 404: NOT_FOUND. */
export class NotFoundError extends HeimdallAPIError {
  override name = "NotFoundError";
}
/** 409: CONFLICT. */
export class ConflictError extends HeimdallAPIError {
  override name = "ConflictError";
}
/** 413: PAYLOAD_TOO_LARGE. */
export class PayloadTooLargeError extends HeimdallAPIError {
  override name = "PayloadTooLargeError";
}
/** 429: RATE_LIMITED, after the SDK's retries ran out; `retryAfter` in seconds. */
export class RateLimitError extends HeimdallAPIError {
  override name = "RateLimitError";
  get retryAfter(): number | null {
    return parseRetryAfter(this.headers.get("retry-after"));
  }
}
/** 503: SERVICE_UNAVAILABLE (database, Redis or a pool out); `retryAfter` in seconds. */
export class ServiceUnavailableError extends HeimdallAPIError {
  override name = "ServiceUnavailableError";
  get retryAfter(): number | null {
    return parseRetryAfter(this.headers.get("retry-after"));
  }
}
/** Any other 5xx (INTERNAL_ERROR). */
export class ServerError extends HeimdallAPIError {
  override name = "ServerError";
}

/** The request never got an answer: refused, reset, DNS, or the timeout passed. */
export class HeimdallConnectionError extends HeimdallError {
  override name = "HeimdallConnectionError";
  readonly method: string;
  readonly url: string;
  override readonly cause: unknown;
  constructor(method: string, url: string, cause: unknown, timedOut = false) {
    const why = timedOut ? "timed out" : cause instanceof Error ? cause.message : String(cause);
    super(`${method} ${url}: ${why}`);
    this.method = method;
    this.url = url;
    this.cause = cause;
  }
}

/** A WebSocket closed for good (4401 without a way to re-authenticate, 4403, 4404, or close()). */
export class WebSocketClosedError extends HeimdallError {
  override name = "WebSocketClosedError";
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string) {
    super(`WebSocket closed with ${code}${reason ? `: ${reason}` : ""}`);
    this.code = code;
    this.reason = reason;
  }
}

const BY_STATUS: Record<number, typeof HeimdallAPIError> = {
  400: ValidationError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  413: PayloadTooLargeError,
  429: RateLimitError,
  503: ServiceUnavailableError,
};

/** The error class for an HTTP status. */
export function errorClassFor(status: number): typeof HeimdallAPIError {
  return BY_STATUS[status] ?? (status >= 500 ? ServerError : HeimdallAPIError);
}

/** Retry-After in seconds (delta-seconds or an HTTP date), or null. */
export function parseRetryAfter(value: string | null): number | null {
  if (value == null || value === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, (date - Date.now()) / 1000);
}
