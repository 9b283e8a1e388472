"""Request ids, rate-limit headers and the request size bound."""

import logging
import time

from django.conf import settings
from django.http import Http404
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from apps.core import ratelimit
from apps.core.exceptions import error_json_response
from apps.core.request_id import new_request_id, reset_request_id, set_request_id

logger = logging.getLogger(__name__)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


class RequestIdMiddleware:
    """Gives every request an id (echoing a sane X-Request-ID) and every response the header.

    Also reports the time the server spent on the request as `Server-Timing:
    app;dur=<ms>` (shown by browsers' dev tools, read by the benchmarks).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        request_id = new_request_id(request.headers.get("X-Request-ID"))
        request.request_id = request_id
        token = set_request_id(request_id)
        try:
            response = self.get_response(request)
        finally:
            reset_request_id(token)
        response["X-Request-ID"] = request_id
        response["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        return response


class RateLimitMiddleware:
    """Per-client fixed-window limit on every /api/ request.

    Clients are told apart by API key (apps.accounts registers the resolver),
    user (JWT or session) or, when anonymous, by address. Runs before DRF so
    that 401s and unknown paths are counted and carry the headers too.
    """

    _jwt = JWTAuthentication()
    _ident = BaseThrottle()

    def __init__(self, get_response):
        self.get_response = get_response

    def _client(self, request) -> tuple[str, str]:
        for resolver in ratelimit.client_resolvers():
            found = resolver(request)
            if found is not None:
                return found
        header = request.headers.get("Authorization", "")
        parts = header.split()
        if len(parts) == 2 and parts[0] == "Bearer":
            try:
                token = self._jwt.get_validated_token(parts[1].encode())
                # Kept for the view's authentication, which would decode it again.
                request.validated_jwt = (parts[1].encode(), token)
                return "user", str(token.get(settings.SIMPLE_JWT["USER_ID_CLAIM"]))
            except (InvalidToken, TokenError):
                pass  # the view answers 401; count it against the address
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return "user", str(user.pk)
        # REMOTE_ADDR as apps.core.proxies resolved it (DRF's NUM_PROXIES is 0).
        return "anon", ratelimit.address_key(self._ident.get_ident(request))

    def __call__(self, request):
        if not _is_api(request):
            return self.get_response(request)
        scope, ident = self._client(request)
        result = ratelimit.hit(scope, ident, api_settings.DEFAULT_THROTTLE_RATES[scope])
        ratelimit.record(request, result)
        if result.allowed:
            response = self.get_response(request)
        else:
            response = error_json_response(
                429,
                "RATE_LIMITED",
                f"Too many requests: retry in {result.retry_after} s.",
                {"retry_after_seconds": result.retry_after},
                headers={"Retry-After": str(result.retry_after)},
            )
        ratelimit.apply_headers(response, ratelimit.most_restrictive(request))
        return response


_BODY_LIMITS: list[tuple] = []  # (compiled path pattern, setting name)


def register_body_limit(path_regex: str, setting_name: str) -> None:
    """Paths whose bodies may be larger (streamed uploads): the limit is the named
    setting instead of HEIMDALL_MAX_REQUEST_BYTES. Filled from AppConfig.ready()."""
    import re

    if all(p.pattern != path_regex for p, _ in _BODY_LIMITS):
        _BODY_LIMITS.append((re.compile(path_regex), setting_name))


def body_limit(path: str) -> int:
    for pattern, setting_name in _BODY_LIMITS:
        if pattern.match(path):
            return getattr(settings, setting_name)
    return settings.HEIMDALL_MAX_REQUEST_BYTES


class RequestSizeLimitMiddleware:
    """413 in the envelope for bodies over HEIMDALL_MAX_REQUEST_BYTES (or a registered
    path's own limit: register_body_limit).

    DRF's parsers read the stream directly, past Django's own size check, so
    the bound is applied here, on the declared Content-Length, before any read.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = body_limit(request.path)
        if length > limit:
            return error_json_response(
                413,
                "PAYLOAD_TOO_LARGE",
                f"The request body is {length} bytes; the limit is {limit} bytes.",
                {"field": "body", "constraint": f"at most {limit} bytes", "value": length},
            )
        return self.get_response(request)


class StorableQueryMiddleware:
    """400 in the envelope, naming the parameter, for a query string holding NUL (`%00`)
    in a parameter's name or value: PostgreSQL's text cannot hold it, so a view that
    passed such a value to a query answered 500 (schemathesis found
    `GET /api/v1/training/data-check?config_name=%00…`). Forms and FilterSets already
    refuse NUL; this covers every parameter a view reads by hand. (Django decodes the
    query string with replacement, so lone surrogates cannot occur here.)

    A path holding NUL names nothing Heimdall can store: 404 (the envelope under /api/),
    before any view looks it up (`GET /api/v1/stations/%00` was a 500, and so was every
    view or admin page taking a text id from its path).

    A form POST body is checked as the query string is (form-encoded anywhere;
    multipart outside /api/): admin actions' `_selected_action` ids and console forms
    reached queries by hand (a 500)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path:
            raise Http404("No resource has NUL (\\u0000) in its name.")
        query = request.META.get("QUERY_STRING", "")
        refused = None
        if "%00" in query or "\x00" in query:
            refused = self._refuse_nul(request.GET)
        if refused is None and request.method == "POST":
            if request.content_type == "application/x-www-form-urlencoded":
                if b"%00" in request.body or b"\x00" in request.body:
                    refused = self._refuse_nul(request.POST)
            elif request.content_type == "multipart/form-data" and not request.path.startswith(
                "/api/"
            ):
                # Console and admin forms (Django parses them here, once, for the view);
                # not the API, where uploads are streamed by the view's own handlers and
                # the serializers refuse NUL.
                refused = self._refuse_nul(request.POST)
        if refused is not None:
            return refused
        return self.get_response(request)

    @staticmethod
    def _refuse_nul(fields):
        for name, values in fields.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                field = name.replace("\x00", "\ufffd")
                return error_json_response(
                    400,
                    "VALIDATION_ERROR",
                    f"Invalid value for '{field}': must not contain NUL (\\u0000) characters",
                    {"field": field, "constraint": "must not contain NUL (\\u0000) characters",
                     "fields": {field: ["must not contain NUL (\\u0000) characters"]}},
                )  # fmt: skip
        return None
