"""Numeric settings from the environment are checked when the process starts.

Found (issue 13's audit, then every setting of the kind): settings read with a bare
`float()` or `int()` took values that broke what they drive only when first used — a
NaN auto-localization window (every ingest's hook failed, swallowed), a threshold of
"nan" (nothing ever anomalous), a negative retention or body limit, a pool of 0
connections. Each now stops the process with ImproperlyConfigured naming the variable.
"""

import runpy
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from apps.core.ratelimit import parse_rate
from heimdall.env import CENTURY_DAYS, CENTURY_MINUTES, CENTURY_SECONDS, env_int

SETTINGS = Path(__file__).resolve().parents[2] / "heimdall" / "settings.py"
# name -> the smallest value it takes (process-specific ones need their process).
MINIMA = {
    "HEIMDALL_INPROCESS_WORKERS": 1, "HEIMDALL_Q_WORKERS": 1, "HEIMDALL_Q_TIMEOUT": 1,
    "HEIMDALL_TRAINING_WORKERS": 1, "HEIMDALL_TRAINING_TIMEOUT": 1,
    "HEIMDALL_ACCESS_TOKEN_LIFETIME": 1, "HEIMDALL_REFRESH_TOKEN_LIFETIME": 1,
    "HEIMDALL_MAX_REQUEST_BYTES": 1, "HEIMDALL_RECORDING_MAX_BYTES": 1,
    "HEIMDALL_STATION_CHECK_INTERVAL": 0, "HEIMDALL_COLLECTOR_STALE_SECONDS": 1,
    "HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS": 1, "HEIMDALL_ANOMALY_RETRAIN_MINUTES": 0,
    "HEIMDALL_ANOMALY_HISTORY_DAYS": 2, "HEIMDALL_DETECTION_RETENTION_DAYS": 1,
    "HEIMDALL_ANALYZE_MAX_SAMPLES": 1, "HEIMDALL_WS_QUEUE_LIMIT": 1,
    "HEIMDALL_WS_QUEUE_BYTES": 1, "HEIMDALL_WS_STALL_SECONDS": 1,
    "HEIMDALL_WS_MAX_SOCKETS_PER_USER": 0, "HEIMDALL_WS_RECHECK_SECONDS": 1,
    "HEIMDALL_WS_MAX_MESSAGE_BYTES": 1, "HEIMDALL_WS_MESSAGES_PER_SECOND": 1,
    "HEIMDALL_API_KEYS_PER_USER": 1, "HEIMDALL_PARTITIONS_AHEAD_DAYS": 0,
    "HEIMDALL_TRAINING_MAX_RESUMES": 0,
}  # fmt: skip
POOL_MINIMA = {
    "HEIMDALL_DB_POOL_MAX_SIZE": 1, "HEIMDALL_DB_POOL_MIN_SIZE": 0,
    "HEIMDALL_DB_POOL_TIMEOUT": 1, "HEIMDALL_DB_POOL_MAX_IDLE": 1,
}  # fmt: skip


def _load(monkeypatch, **env) -> dict:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(SETTINGS))


@pytest.mark.parametrize("name", sorted(MINIMA))
def test_an_integer_setting_below_its_minimum_stops_the_process_naming_it(monkeypatch, name):
    minimum = MINIMA[name]
    with pytest.raises(
        ImproperlyConfigured, match=f"{name} must be an integer at least {minimum}, got '-1'"
    ):
        _load(monkeypatch, **{name: "-1"})
    loaded = _load(monkeypatch, **{name: str(minimum)})  # the minimum itself is taken
    assert loaded.get(name, minimum) == minimum  # (some live inside Q_CLUSTER, SIMPLE_JWT)


@pytest.mark.parametrize("name", sorted(POOL_MINIMA))
def test_a_pool_setting_below_its_minimum_stops_the_web_process(monkeypatch, name):
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x")
    monkeypatch.setenv("HEIMDALL_PROCESS", "web")
    with pytest.raises(ImproperlyConfigured, match=f"{name} must be an integer at least"):
        _load(monkeypatch, **{name: "-1"})


@pytest.mark.parametrize("raw", ["nan", "inf", "0", "-0.1", "1.5", "abc"])
def test_the_anomaly_threshold_must_lie_in_0_1(monkeypatch, raw):
    with pytest.raises(ImproperlyConfigured, match="HEIMDALL_ANOMALY_THRESHOLD must be a"):
        _load(monkeypatch, HEIMDALL_ANOMALY_THRESHOLD=raw)


def test_the_anomaly_threshold_and_integers_read_as_before(monkeypatch):
    loaded = _load(
        monkeypatch, HEIMDALL_ANOMALY_THRESHOLD="0.7", HEIMDALL_DETECTION_RETENTION_DAYS=" 30 "
    )
    assert (loaded["HEIMDALL_ANOMALY_THRESHOLD"], loaded["HEIMDALL_DETECTION_RETENTION_DAYS"]) == (
        0.7,
        30,
    )
    monkeypatch.setenv("HEIMDALL_DETECTION_RETENTION_DAYS", "")
    assert runpy.run_path(str(SETTINGS))["HEIMDALL_DETECTION_RETENTION_DAYS"] == 90


def test_env_int(monkeypatch):
    monkeypatch.setenv("X_I", "1.5")
    with pytest.raises(ImproperlyConfigured, match=r"X_I must be an integer, got '1\.5'"):
        env_int("X_I", 3)
    monkeypatch.setenv("X_I", "2")
    with pytest.raises(ImproperlyConfigured, match="X_I must be an integer at least 3, got '2'"):
        env_int("X_I", 3, minimum=3)
    assert env_int("X_I", 3) == 2


RATES = {
    "HEIMDALL_RATE_LIMIT_USER": "user", "HEIMDALL_RATE_LIMIT_ANON": "anon",
    "HEIMDALL_RATE_LIMIT_API_KEY": "api_key",
    "HEIMDALL_RATE_LIMIT_LOGIN_USERNAME": "login_username",
    "HEIMDALL_RATE_LIMIT_LOGIN_ADDRESS": "login_address",
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(RATES))
@pytest.mark.parametrize("raw", ["lots", "100", "0/min", "-5/min", "10/fortnight", "10/min/x",
                                 "/min", "10/", "1.5/min"])  # fmt: skip
def test_a_rate_limit_that_is_not_a_rate_stops_the_process_naming_it(monkeypatch, name, raw):
    """Found: a rate limit was a bare string, read at each request — 'lots' started fine
    and every request it counts was a 500 (parse_rate raised ImproperlyConfigured in
    RateLimitMiddleware); 0/min or below refused them all."""
    with pytest.raises(ImproperlyConfigured, match=f"{name} must be a rate like '100/min'"):
        _load(monkeypatch, **{name: raw})


@pytest.mark.parametrize("name", sorted(RATES))
def test_a_rate_limit_in_any_period_is_read_as_given(monkeypatch, name):
    for raw, parsed in [("5/s", (5, 1)), (" 100/hour ", (100, 3600)), ("7/Day", (7, 86400)),
                        ("1/m", (1, 60))]:  # fmt: skip
        rates = _load(monkeypatch, **{name: raw})["REST_FRAMEWORK"]["DEFAULT_THROTTLE_RATES"]
        assert parse_rate(rates[RATES[name]]) == parsed


# name -> its unit's century (durations added to or taken from now).
MAXIMA = {
    "HEIMDALL_ACCESS_TOKEN_LIFETIME": CENTURY_SECONDS,
    "HEIMDALL_REFRESH_TOKEN_LIFETIME": CENTURY_SECONDS,
    "HEIMDALL_COLLECTOR_STALE_SECONDS": CENTURY_SECONDS,
    "HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS": CENTURY_SECONDS,
    "HEIMDALL_ANOMALY_RETRAIN_MINUTES": CENTURY_MINUTES,
    "HEIMDALL_ANOMALY_HISTORY_DAYS": CENTURY_DAYS,
    "HEIMDALL_DETECTION_RETENTION_DAYS": CENTURY_DAYS,
}


@pytest.mark.parametrize("name", sorted(MAXIMA))
def test_a_duration_past_a_century_stops_the_process_naming_it(monkeypatch, name):
    """Found: HEIMDALL_ACCESS_TOKEN_LIFETIME=300000000000 started, then every login was a
    500 (OverflowError making the token: past year 9999); a retention of 10^9 days failed
    each retention run the same way. Capped at a century, which the date arithmetic
    takes."""
    maximum = MAXIMA[name]
    with pytest.raises(
        ImproperlyConfigured, match=f"{name} must be an integer at most {maximum}, got"
    ):
        _load(monkeypatch, **{name: str(maximum + 1)})
    assert _load(monkeypatch, **{name: str(maximum)}).get(name, maximum) == maximum
    seconds = maximum * {CENTURY_SECONDS: 1, CENTURY_MINUTES: 60, CENTURY_DAYS: 86_400}[maximum]
    now = timezone.now()
    assert now + timedelta(seconds=seconds) > now > now - timedelta(seconds=seconds)


def test_an_access_token_lives_up_to_a_century(monkeypatch):
    from rest_framework_simplejwt.tokens import AccessToken

    loaded = _load(monkeypatch, HEIMDALL_ACCESS_TOKEN_LIFETIME=str(CENTURY_SECONDS))
    token = AccessToken()
    token.set_exp(lifetime=loaded["SIMPLE_JWT"]["ACCESS_TOKEN_LIFETIME"])  # what overflowed
    assert token["exp"] - token["iat"] == CENTURY_SECONDS


def test_partitions_ahead_are_at_most_a_year(monkeypatch):
    """A huge HEIMDALL_PARTITIONS_AHEAD_DAYS made the periodic task create that many
    daily partitions."""
    with pytest.raises(
        ImproperlyConfigured, match="HEIMDALL_PARTITIONS_AHEAD_DAYS must be an integer at most 366"
    ):
        _load(monkeypatch, HEIMDALL_PARTITIONS_AHEAD_DAYS="367")
    assert (
        _load(monkeypatch, HEIMDALL_PARTITIONS_AHEAD_DAYS="366")["HEIMDALL_PARTITIONS_AHEAD_DAYS"]
        == 366
    )
