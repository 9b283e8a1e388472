"""Login limits: one policy for every way of logging in.

Every call of `django.contrib.auth.authenticate()` with a request — the API
login (`POST /api/v1/auth/login`), Django admin's login form, the operator
pages' login, the browsable API's login — passes `LoginLimitBackend` first
(it is first in AUTHENTICATION_BACKENDS). It counts the attempt, before any
password is checked, in two fixed windows of the shared limiter
(`apps.core.ratelimit`, Redis in production, so all processes share them):

  login_username  per (username tried, client address)   HEIMDALL_RATE_LIMIT_LOGIN_USERNAME
  login_address   per client address, any username        HEIMDALL_RATE_LIMIT_LOGIN_ADDRESS

Past either, the attempt is refused whatever the password: the API answers
429 `RATE_LIMITED` with `Retry-After`, pages answer 429 with a page saying
when to retry (`LoginLimitMiddleware`). The username is always combined with
the address: somebody guessing `admin`'s password from one address locks out
that address for `admin`, never `admin` at their own desk. The client address
is the one `apps.core.proxies` resolved (forwarded headers only from
HEIMDALL_TRUSTED_PROXIES); IPv6 clients count per /64, the block one
subscriber usually holds.

`authenticate()` without a request (management commands, tests' `login()`)
is not counted: there is no address to count against.
"""

import unicodedata

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.loader import render_to_string
from rest_framework.settings import api_settings

from apps.core import ratelimit
from apps.core.ratelimit import RateLimitResult, address_key

SCOPE_USERNAME = "login_username"
SCOPE_ADDRESS = "login_address"
REFUSED_ATTR = "heimdall_login_refused"
USERNAME_MAX = 150


def normalized_username(username: str) -> str:
    """As usernames are stored (NFKC, AbstractBaseUser.normalize_username), case-folded:
    "alice", "ALICE" and a full-width "ａlice" share one counter."""
    return unicodedata.normalize("NFKC", username).strip().casefold()[:USERNAME_MAX]


def login_attempt(request, username: str) -> RateLimitResult | None:
    """Count one login attempt; the refusing limit's result, or None when it may go on.

    Both windows are counted (and recorded on the request for the
    X-RateLimit-* headers) even when the first already refuses.
    """
    rates = api_settings.DEFAULT_THROTTLE_RATES
    address = address_key(request.META.get("REMOTE_ADDR"))
    results = [
        ratelimit.hit(SCOPE_ADDRESS, address, rates[SCOPE_ADDRESS]),
        ratelimit.hit(
            SCOPE_USERNAME, f"{address}|{normalized_username(username)}", rates[SCOPE_USERNAME]
        ),
    ]
    for result in results:
        ratelimit.record(request, result)
    refused = [r for r in results if not r.allowed]
    return max(refused, key=lambda r: r.reset_at) if refused else None


def refused_attempt(request) -> RateLimitResult | None:
    """The limit that refused this request's login attempt, if one did."""
    return getattr(request, REFUSED_ATTR, None)


class LoginLimitBackend:
    """First authentication backend: refuses attempts past the limits; never logs anyone in.

    Raising PermissionDenied makes `authenticate()` stop at once (no password
    is checked) and send `user_login_failed`, as Django documents for
    backends that veto a login.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None or not isinstance(username, str):
            return None
        refused = login_attempt(request, username)
        if refused is not None:
            setattr(request, REFUSED_ATTR, refused)
            raise PermissionDenied("too many login attempts")
        return None

    def get_user(self, user_id):
        return None


class LoginLimitMiddleware:
    """A page login refused by the limits answers 429 with Retry-After.

    API views raise their own 429 in the error envelope; this covers Django
    admin's login and any other form login, which would otherwise show the
    login form again as if the password were wrong.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        refused = refused_attempt(request)
        if refused is None or request.path.startswith("/api/") or response.status_code == 429:
            return response
        retry = refused.retry_after
        page = render_to_string(
            "accounts/login_refused.html",
            {"retry_after": retry, "next": request.path, "debug": settings.DEBUG},
            request=request,
        )
        throttled = HttpResponse(page, status=429)
        throttled["Retry-After"] = str(retry)
        ratelimit.apply_headers(throttled, refused)
        return throttled
