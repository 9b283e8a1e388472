import re

from django.core.exceptions import ValidationError

STATION_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
API_TYPES = ("simulated", "http_streaming", "openwebrx", "kiwisdr")
API_CONFIG_KEYS = {"api_type", "poll_interval", "timeout", "stream_url", "frequency_hz", "mode"}


def validate_station_id(value: str) -> None:
    if not isinstance(value, str) or not STATION_ID_RE.match(value):
        raise ValidationError(
            "must be 1-64 lowercase letters, digits and inner hyphens (a slug like 'twente-nl')"
        )


def api_config_errors(config) -> dict[str, str]:
    """Problems with a station's api_config by key ("" for the whole value); empty when valid."""
    if not isinstance(config, dict):
        return {"": "must be an object"}
    errors: dict[str, str] = {}
    for key in sorted(set(config) - API_CONFIG_KEYS):
        errors[key] = "unknown key"
    api_type = config.get("api_type")
    if api_type not in API_TYPES:
        errors["api_type"] = f"must be one of {', '.join(API_TYPES)}"
    poll = config.get("poll_interval", 1.0)
    if isinstance(poll, bool) or not isinstance(poll, int | float) or not 0.1 <= poll <= 3600:
        errors["poll_interval"] = "must be a number of seconds between 0.1 and 3600"
    timeout = config.get("timeout", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 1 <= timeout <= 600:
        errors["timeout"] = "must be a number of seconds between 1 and 600"
    for key in ("stream_url", "mode"):
        if key in config and (not isinstance(config[key], str) or len(config[key]) > 500):
            errors[key] = "must be a string of at most 500 characters"
    if "frequency_hz" in config:
        freq = config["frequency_hz"]
        if isinstance(freq, bool) or not isinstance(freq, int) or freq < 0:
            errors["frequency_hz"] = "must be a non-negative integer (Hz)"
    return errors


def validate_api_config(config) -> None:
    errors = api_config_errors(config)
    if errors:
        raise ValidationError("; ".join(f"{k or 'api_config'}: {v}" for k, v in errors.items()))
