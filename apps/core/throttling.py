"""DRF throttles on the shared fixed-window limiter.

The per-client limit of every API request is applied by
`apps.core.middleware.RateLimitMiddleware`. Login attempts are limited where
every login passes (`apps.accounts.login_limits`); `LoginAddressThrottle`
adds the same per-address window to other credential endpoints (refresh).
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
        # REMOTE_ADDR as apps.core.proxies resolved it (NUM_PROXIES is 0).
        return ratelimit.address_key(self.get_ident(request))
