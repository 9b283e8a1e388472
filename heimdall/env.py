"""Typed readers for settings that come from the environment (and nowhere else)."""

import math
import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


# The longest span a duration setting may give: a century, in its unit. Durations are
# added to or taken from now; a larger one (an access token lifetime of 3e11 s, a
# retention of 1e9 days) passed the minimum and then every login, or every retention
# run, failed with OverflowError (past year 9999).
CENTURY_DAYS = 36_500
CENTURY_MINUTES = CENTURY_DAYS * 1440
CENTURY_SECONDS = CENTURY_DAYS * 86_400


def env_int(
    name: str, default: int, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """An integer, at least `minimum` and at most `maximum` when given; unset or empty:
    `default`. Anything else stops the process with ImproperlyConfigured naming the
    variable: a negative retention, body limit or pool size started fine and broke what
    it drives when first used."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be an integer at least {minimum}, got {raw!r}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be an integer at most {maximum}, got {raw!r}")
    return value


_RATE_PERIODS = "smhd"  # apps.core.ratelimit's periods (their first letter counts, as in DRF)


def env_rate(name: str, default: str) -> str:
    """A rate limit like '1200/min': a whole count of at least 1 per s(econd), m(inute),
    h(our) or d(ay); unset or empty: `default`. Anything else stops the process naming
    the variable: a bad rate started fine and made every request it counts a 500
    (apps.core.ratelimit.parse_rate raised on each), and a count of 0 or below refused
    them all (429)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    count, _, period = raw.strip().partition("/")
    try:
        number = int(count)
    except ValueError:
        number = 0
    period = period.strip()
    if not period or "/" in period or number < 1 or period[0].lower() not in _RATE_PERIODS:
        raise ImproperlyConfigured(
            f"{name} must be a rate like '100/min' (a whole count of at least 1 per second, "
            f"minute, hour or day), got {raw!r}"
        )
    return raw.strip()


def env_float(
    name: str,
    default: float,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float:
    """A finite number within [minimum, maximum] (minimum excluded when
    `exclusive_minimum`); unset or empty: `default`. Anything else stops the process
    with ImproperlyConfigured naming the variable: `float()` alone took "nan" and "inf",
    which broke what the setting drives only when it was first used (and silently)."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc
    low_ok = minimum is None or (value > minimum if exclusive_minimum else value >= minimum)
    if not math.isfinite(value) or not low_ok or (maximum is not None and value > maximum):
        bounds = (
            f"{'above' if exclusive_minimum else 'at least'} {minimum:g}"
            if minimum is not None
            else ""
        )
        if maximum is not None:
            bounds = f"{bounds} and at most {maximum:g}" if bounds else f"at most {maximum:g}"
        raise ImproperlyConfigured(
            f"{name} must be a finite number{' ' + bounds if bounds else ''}, got {raw!r}"
        )
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]
