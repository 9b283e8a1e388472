"""Numbers (and text) that are valid JSON but not valid values, refused in one place.

JSON lets a client write `1e400` (Python reads it as infinity), `NaN`,
`Infinity` and integers of any length; PostgreSQL's `bigint` stops at
2**63 - 1, its `jsonb` has no NaN or infinity, and a JSON encoder in strict
mode cannot write them back out. So:

* `checked_loads` reads JSON and raises `BadNumber` naming the path of the
  first non-finite number or integer outside the signed 64-bit range
  (`detections[3].signal_features.snr`). The API's JSON parser
  (`apps.core.parsers`) and WebSocket consumers use it.
* `first_bad_number` finds such a value in data that did not come through
  JSON (a collector's dict, a management command's arguments); `all_storable`
  is ingest's one-pass test for bad numbers and bad text together, and
  `first_unstorable` names the path.
* `json_safe` makes any value JSON-writable (non-finite floats as the
  strings "Infinity", "-Infinity", "NaN"): the error envelope runs every
  `details` through it, so an error can never fail to render.
* Text: JSON may hold `\\u0000` (PostgreSQL's text and jsonb cannot store NUL) and,
  read by Python's `json`, lone UTF-16 surrogates (no UTF-8 text can hold them):
  `fast_checked_loads` and `checked_loads` raise `BadText` naming the path, so no
  request body, WebSocket message or uploaded metadata reaches the database with one.
* `BoundedIntegerField` (forms, and `apps.core.filters.IntegerFilter` built
  on it) is never unbounded: the int64 range unless told tighter bounds.
  Pagination parameters are `apps.core.pagination.IntParam`s.
"""

import json
import math
import re
from typing import Any

import orjson
from django import forms

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Integers this long may be outside the 64-bit range: checked one by one.
_INT64_DIGITS = len(str(INT64_MAX))


FINITE = "must be a finite number"
INT64 = f"must be an integer from {INT64_MIN} to {INT64_MAX}"


class BadValue(ValueError):
    """A value no field can hold at `path` ("" for the whole document): `path`,
    `constraint` and a JSON-safe `value` (None where echoing it back is unsafe)."""

    def __init__(self, path: str, constraint: str, value: Any):
        self.path = path or "body"
        self.constraint = constraint
        self.value = json_safe(value)
        super().__init__(f"{self.path}: {constraint}")


class BadNumber(BadValue):
    """A non-finite or out-of-range number at `path`."""


class BadText(BadValue):
    """A string (or object key) holding NUL or a lone UTF-16 surrogate at `path`; the
    value is not echoed (a lone surrogate cannot be written as UTF-8)."""

    def __init__(self, path: str, constraint: str):
        super().__init__(path, constraint, None)


NUL = "must not contain NUL (\\u0000) characters"
SURROGATE = "must be valid Unicode text (it holds a lone UTF-16 surrogate)"
_SURROGATES = re.compile("[\ud800-\udfff]")


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return NUL
    if not text.isascii() and _SURROGATES.search(text):
        return SURROGATE
    return None


def first_bad_text(data, path: str = "") -> BadText | None:
    """The first string or object key in `data` holding NUL or a lone surrogate, or None.
    A bad key is named by its object's path (the key itself cannot be written back)."""
    stack = [(path, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, str):
            problem = _text_problem(value)
            if problem:
                return BadText(where, problem)
        elif isinstance(value, dict):
            for key in value:
                problem = _text_problem(key) if isinstance(key, str) else None
                if problem:
                    return BadText(where, f"keys {problem}")
            stack.extend((_join(where, k), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list | tuple):
            stack.extend((_join(where, i), v) for i, v in reversed(list(enumerate(value))))
    return None


def check_text(data, path: str = "") -> None:
    """Raise `BadText` for the first string in `data` that PostgreSQL cannot store."""
    bad = first_bad_text(data, path)
    if bad is not None:
        raise bad


def is_finite_number(value) -> bool:
    """An int (not bool) or a finite float."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _problem(value) -> str | None:
    if isinstance(value, float):
        return None if math.isfinite(value) else FINITE
    if isinstance(value, int) and not isinstance(value, bool):
        return None if INT64_MIN <= value <= INT64_MAX else INT64
    return None


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def first_bad_number(data, path: str = "") -> BadNumber | None:
    """The first non-finite float or out-of-int64 integer in `data`, at any depth, or None.

    Paths are written as the API's error details name fields:
    `detections[3].signal_features.snr`.
    """
    stack = [(path, data)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((_join(where, k), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list | tuple):
            stack.extend((_join(where, i), v) for i, v in reversed(list(enumerate(value))))
        else:
            problem = _problem(value)
            if problem:
                return BadNumber(where, problem, value)
    return None


def storable(text: str) -> str:
    """`text` with NUL and lone surrogates replaced by U+FFFD: for text Heimdall records
    rather than refuses (a receiver's own error message in a station check)."""
    if storable_text(text):
        return text
    return _SURROGATES.sub("\ufffd", text.replace("\x00", "\ufffd"))


def storable_text(text: str) -> bool:
    """True when PostgreSQL's text and jsonb can hold `text` (no NUL, no lone surrogate)."""
    return _text_problem(text) is None


def all_storable(data) -> bool:
    """True when `data` holds no non-finite float, no integer beyond 64 bits and no string
    or key holding NUL or a lone surrogate: the fast test for hot paths (ingest, for
    values that did not come through `fast_checked_loads`: a collector's dict); call
    `first_unstorable` for the path only when it is False."""
    if isinstance(data, dict):
        for key in data:
            if isinstance(key, str) and ("\x00" in key or not key.isascii()) and _text_problem(key):
                return False
        values = data.values()
    elif isinstance(data, list | tuple):
        values = data
    elif isinstance(data, str):
        return _text_problem(data) is None
    else:
        return _problem(data) is None
    for value in values:
        kind = type(value)
        if kind is float:
            if value - value != 0:
                return False
        elif kind is int:
            if not INT64_MIN <= value <= INT64_MAX:
                return False
        elif kind is str:
            if ("\x00" in value or not value.isascii()) and _text_problem(value):
                return False
        elif kind is bool or value is None:
            continue
        elif not all_storable(value):
            return False
    return True


def first_unstorable(data, path: str = "") -> BadValue | None:
    """The first bad number (`first_bad_number`) or bad text (`first_bad_text`) in
    `data`, or None; call it for the path once `all_storable` is False."""
    return first_bad_number(data, path) or first_bad_text(data, path)


def check_numbers(data, path: str = "") -> None:
    """Raise `BadNumber` for the first bad number in `data` (see first_bad_number)."""
    bad = first_bad_number(data, path)
    if bad is not None:
        raise bad


def checked_loads(text: str | bytes):
    """`json.loads` that refuses non-finite numbers and integers beyond 64 bits.

    The common case pays two cheap hooks (about 2 ms per MB of JSON); only a
    document that holds a suspect literal is walked to name its path.
    Raises `BadNumber`, or ValueError for malformed JSON.
    """
    suspect = False

    def parse_float(literal: str) -> float:
        nonlocal suspect
        value = float(literal)
        if value - value != 0:  # inf or nan, without a function call
            suspect = True
        return value

    def parse_int(literal: str) -> int:
        nonlocal suspect
        if len(literal) >= _INT64_DIGITS:
            suspect = True
        return int(literal)

    def parse_constant(literal: str) -> float:
        nonlocal suspect
        suspect = True
        return float(literal)  # NaN, Infinity, -Infinity

    data = json.loads(
        text, parse_float=parse_float, parse_int=parse_int, parse_constant=parse_constant
    )
    if suspect:
        check_numbers(data)
    if "\\u" in (text if isinstance(text, str) else text.decode("utf-8", "replace")):
        check_text(data)  # an escape may be NUL or a lone surrogate
    return data


# Digits → "9", "." → ".", anything else → " ": an integer literal of 19 or more digits
# then reads " 9999999999999999999" (a fraction's digits follow a ".").
_DIGIT_SHAPE = bytes.maketrans(
    bytes(range(256)),
    bytes(ord("9") if chr(b).isdigit() and b < 128 else ord(".") if b == ord(".") else ord(" ")
          for b in range(256)),
)  # fmt: skip
_LONG_INTEGER = b" " + b"9" * _INT64_DIGITS


def fast_checked_loads(body: bytes):
    """`checked_loads` at orjson's speed, and stricter.

    orjson refuses NaN, Infinity, literals that overflow to infinity, lone
    UTF-16 surrogates (no UTF-8 text can hold them) and nesting deeper than
    1024; it reads integers beyond 64 bits as floats. So a body with an
    integer literal of 19+ digits goes through `checked_loads`, and a body
    orjson refuses is read again by `checked_loads` only to name the path of
    a bad number (`BadNumber`); otherwise orjson's refusal stands (ValueError).
    The digit scan is two C passes (about 1 ms per MB). A body holding the escape
    `\\u0000` is walked for NUL in its strings (`BadText`).
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as refusal:
        try:
            checked_loads(body)
        except BadValue:
            raise
        except (ValueError, RecursionError):
            pass
        raise ValueError(str(refusal)) from None
    if _LONG_INTEGER in body.translate(_DIGIT_SHAPE):
        try:
            return checked_loads(body)
        except RecursionError:
            raise ValueError("nesting too deep") from None
    if b"\\u0000" in body:  # orjson reads it as NUL (a literal "\\u0000" also matches)
        check_text(data)
    return data


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float written as a string, containers copied.

    Integers beyond 64 bits are shortened to their first digits and length.
    Other values JSON cannot hold (times, UUIDs, Decimals, objects) become
    their `str()`. For error details, which must always render.
    """
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, int) and not isinstance(value, bool):
        if INT64_MIN <= value <= INT64_MAX:
            return value
        digits = str(abs(value))
        return f"{'-' if value < 0 else ''}{digits[:20]}... ({len(digits)} digits)"
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)


# --- integer query parameters -----------------------------------------------------


class BoundedIntegerField(forms.IntegerField):
    """A form IntegerField that is never unbounded: min/max default to the int64 range.

    Use it (or `apps.core.filters.IntegerFilter`, built on it) for every
    integer query parameter; give it the field's real domain where there is one.
    """

    def __init__(self, *, max_value=INT64_MAX, min_value=INT64_MIN, **kwargs):
        super().__init__(max_value=max_value, min_value=min_value, **kwargs)

    def to_python(self, value):
        if isinstance(value, str) and len(value.strip()) > 40:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


# --- command-line arguments -----------------------------------------------------------


def argument_number(kind: type, *, minimum, maximum):
    """An argparse `type=` for management commands: a finite int or float in [minimum,
    maximum] (`--duration inf` or `--seed -1` is a usage error, not a crash)."""
    import argparse

    def parse(text: str):
        try:
            value = kind(text)
        except (TypeError, ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(FINITE)
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be from {minimum} to {maximum}")
        return value

    parse.__name__ = kind.__name__
    return parse
