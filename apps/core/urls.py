"""URL helpers: every API path answers with and without its trailing slash."""

from django.urls import re_path


def api_path(route: str, view, name: str | None = None):
    """`api_path("stations/<slug:station_id>/status", ...)`: the slash at the end is optional.

    Converters are written as in `path()`; they are rewritten to regex groups.
    """
    import re

    converters = {
        "str": r"[^/]+",
        "slug": r"[-a-zA-Z0-9_]+",
        # The 8-4-4-4-12 form only: `[0-9a-fA-F-]{36}` let a malformed id reach the ORM
        # (a 500 from uuid.UUID; `make fuzz`, DELETE /auth/api-keys/{key_id}).
        "uuid": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        "int": r"[0-9]+",
    }

    def to_group(match: re.Match) -> str:
        kind, name_ = match.group(1), match.group(2)
        return f"(?P<{name_}>{converters[kind]})"

    pattern = re.sub(r"<(\w+):(\w+)>", to_group, route.strip("/"))
    return re_path(rf"^{pattern}/?$", view, name=name)
