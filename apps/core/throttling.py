"""DRF throttles for the login endpoint, on the shared fixed-window limiter.

The per-client limit of every API request is applied by
`apps.core.middleware.RateLimitMiddleware`; these add the login-specific limits
(per username tried and per client address) that brute-force attempts hit.
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from apps.core import ratelimit


class _LimiterThrottle(BaseThrottle):
    scope: str = ""

    def ident_for(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        ident = self.ident_for(request)
        if ident is None:
            return True
        # Read at call time so settings overrides (tests, env) take effect.
        rate = api_settings.DEFAULT_THROTTLE_RATES[self.scope]
        self.result = ratelimit.hit(self.scope, ident, rate)
        ratelimit.record(request._request, self.result)
        return self.result.allowed

    def wait(self):
        return self.result.retry_after


class LoginAddressThrottle(_LimiterThrottle):
    scope = "login_address"

    def ident_for(self, request):
        return self.get_ident(request)


class LoginUsernameThrottle(_LimiterThrottle):
    scope = "login_username"

    def ident_for(self, request):
        data = request.data  # a malformed body raises ParseError here: the 400 it deserves
        username = data.get("username") if hasattr(data, "get") else None
        if not isinstance(username, str) or not username.strip():
            return None
        return username.strip().lower()[:150]
