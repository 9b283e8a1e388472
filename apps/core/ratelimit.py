"""Fixed-window rate limiting on the shared cache (Redis in production).

A window's counter is one atomic `incr`, so several daphne processes behind a
load balancer share one count per client. The result of each check is kept on
the request so that every API response can carry the X-RateLimit-* headers.
"""

import ipaddress
import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)
_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
REQUEST_ATTR = "_heimdall_rate_limits"


@dataclass(frozen=True)
class RateLimitResult:
    limit: int
    remaining: int
    reset_at: int  # epoch seconds when the window ends
    allowed: bool

    @property
    def retry_after(self) -> int:
        return max(1, self.reset_at - int(time.time()))


def address_key(address: str | None) -> str:
    """The limiter's key for a client address: IPv4 as is, IPv6 per /64.

    One subscriber usually holds a whole IPv6 /64; counting per address would
    give one client 2**64 fresh windows.
    """
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def parse_rate(rate: str) -> tuple[int, int]:
    """'1200/min' → (1200, 60). The period's first letter is what counts, as in DRF."""
    try:
        count, period = rate.split("/")
        return int(count), _PERIODS[period.strip()[0].lower()]
    except (ValueError, KeyError, IndexError) as exc:
        raise ImproperlyConfigured(f"Bad rate {rate!r}: expected like '100/min'") from exc


# Ways a higher app names a request's client before the default rules (JWT user,
# session user, address) apply: callables (request) -> (scope, ident) or None.
# apps.accounts registers API keys (one window per key).
_client_resolvers: list = []


def register_client_resolver(resolver) -> None:
    if resolver not in _client_resolvers:
        _client_resolvers.append(resolver)


def client_resolvers() -> list:
    return list(_client_resolvers)


_redis_client = None


def _redis():
    """One client for the process (redis-py builds its callback table per client)."""
    global _redis_client
    if _redis_client is None:
        import redis

        _redis_client = redis.Redis.from_url(settings.REDIS_URL)
    return _redis_client


def _count(key: str, period: int) -> int:
    if settings.REDIS_URL:
        # One round trip: INCR, and an expiry on the window's first request.
        pipe = _redis().pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, period + 1, nx=True)
        return pipe.execute()[0]
    cache.add(key, 0, timeout=period + 1)
    try:
        return cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.add(key, 1, timeout=period + 1)
        return 1


def hit(scope: str, ident: str, rate: str) -> RateLimitResult:
    """Count one request of `ident` against `rate` and say whether it may pass."""
    limit, period = parse_rate(rate)
    now = int(time.time())
    window_start = now - now % period
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "heimdall")
    key = f"{prefix}:ratelimit:{scope}:{ident}:{window_start}"
    try:
        count = _count(key, period)
    except Exception:
        # Fail open: an unreachable cache must not turn every request into a
        # 500; /health reports the outage.
        logger.warning("rate limiter cache unavailable; request not counted", exc_info=True)
        count = 0
    return RateLimitResult(
        limit=limit,
        remaining=max(0, limit - count),
        reset_at=window_start + period,
        allowed=count <= limit,
    )


def record(django_request, result: RateLimitResult) -> None:
    results = getattr(django_request, REQUEST_ATTR, None)
    if results is None:
        results = []
        setattr(django_request, REQUEST_ATTR, results)
    results.append(result)


def most_restrictive(django_request) -> RateLimitResult | None:
    results = getattr(django_request, REQUEST_ATTR, None)
    if not results:
        return None
    return min(results, key=lambda r: (r.allowed, r.remaining))


def apply_headers(response, result: RateLimitResult) -> None:
    response["X-RateLimit-Limit"] = str(result.limit)
    response["X-RateLimit-Remaining"] = str(result.remaining)
    response["X-RateLimit-Reset"] = str(result.reset_at)
