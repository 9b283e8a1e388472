"""Query parameters: integers always bounded (see apps.core.numbers)."""

from apps.core.exceptions import ValidationFailed
from apps.core.numbers import INT64_MAX, INTEGER_TEXT


def bounded_int(
    params, name: str, *, default: int | None, minimum: int = 0, maximum: int = INT64_MAX
) -> int | None:
    """The integer query parameter `name`, or `default` when absent or empty.

    Anything else than a base-10 integer from `minimum` to `maximum` is the
    envelope's 400 naming the parameter (`maximum` defaults to the 64-bit
    limit: no parameter reaches the database unbounded).
    """
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    text = str(raw).strip()
    if len(text) > 40 or not INTEGER_TEXT.fullmatch(text):
        raise ValidationFailed.for_field(name, "must be an integer", str(raw)[:40])
    value = int(text)
    if value < minimum:
        raise ValidationFailed.for_field(name, f"must be at least {minimum}", text)
    if value > maximum:
        raise ValidationFailed.for_field(name, f"must be at most {maximum}", text)
    return value
