import re

from django.core.exceptions import ValidationError

from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.weburl import url_problem

STATION_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
API_TYPES = ("simulated", "http_streaming", "openwebrx", "kiwisdr")
API_CONFIG_KEYS = {"api_type", "poll_interval", "timeout", "stream_url", "frequency_hz", "mode"}
# The demodulator modes each collector can turn into detections (docs/collectors.md);
# the first is the default. A simulated station takes no mode.
RECEIVABLE_MODES = {
    "openwebrx": ("usb", "lsb", "cw", "am", "sam", "nfm", "wfm"),
    "kiwisdr": ("iq", "usb", "lsb", "cw", "am", "nbfm"),
    "http_streaming": ("usb", "lsb", "cw", "am", "fm"),
    "simulated": (),
}


def default_mode(api_type: str) -> str | None:
    modes = RECEIVABLE_MODES.get(api_type) or ()
    return modes[0] if modes else None


# Ids a station may not take because a console path uses the word: /stations/new is the
# create page, so a station "new" could never be opened at /stations/<id>.
RESERVED_STATION_IDS = frozenset({"new"})


def validate_station_id(value: str) -> None:
    """A slug of 1-64 lowercase letters, digits and inner hyphens, not a reserved word."""
    if not isinstance(value, str) or not STATION_ID_RE.match(value):
        raise ValidationError(
            "must be 1-64 lowercase letters, digits and inner hyphens (a slug like 'twente-nl')"
        )
    if value in RESERVED_STATION_IDS:
        raise ValidationError(
            f"'{value}' is reserved (the console's /stations/{value} is the create page); "
            "choose another id"
        )


def validate_receiver_url(value) -> None:
    """A station URL a browser (and so a collector) can open a receiver page from
    (apps.core.weburl): http, https, ws or wss, a real host, a port of 1-65535."""
    problem = url_problem(value)
    if problem:
        raise ValidationError(problem)


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
    if "stream_url" in config and "stream_url" not in errors:
        problem = url_problem(config["stream_url"])  # what the collector would fail on
        if problem:
            errors["stream_url"] = problem
    if isinstance(config.get("mode"), str) and "mode" not in errors and api_type in API_TYPES:
        modes = RECEIVABLE_MODES[api_type]
        if not modes:
            errors["mode"] = f"{api_type} stations take no mode"
        elif config["mode"] not in modes:
            errors["mode"] = (
                f"{config['mode']!r} cannot be received from a {api_type} station; "
                f"one of {', '.join(modes)}"
            )
    if "frequency_hz" in config:
        freq = config["frequency_hz"]
        if isinstance(freq, bool) or not isinstance(freq, int) or not 0 <= freq <= MAX_FREQUENCY_HZ:
            errors["frequency_hz"] = f"must be an integer from 0 to {MAX_FREQUENCY_HZ} (Hz)"
    return errors


def validate_api_config(config) -> None:
    errors = api_config_errors(config)
    if errors:
        raise ValidationError("; ".join(f"{k or 'api_config'}: {v}" for k, v in errors.items()))
