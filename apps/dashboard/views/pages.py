"""Page numbers for console tables, with the API's parameter rules (apps.core.pagination)."""

from apps.core.pagination import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    page_number_block,
    parse_positive_int,
)


def paginate(queryset, params, page_size: int = DEFAULT_PAGE_SIZE) -> tuple[list, dict]:
    """(rows of the asked page, seed 004's pagination block) — `page`, `page_size` as the API."""
    if getattr(queryset, "ordered", True) is False:
        raise RuntimeError("refusing to paginate an unordered queryset")
    page = parse_positive_int(params, "page", 1)
    size = parse_positive_int(params, "page_size", page_size, MAX_PAGE_SIZE)
    total = queryset.count()
    rows = list(queryset[(page - 1) * size : page * size])
    return rows, page_number_block(page, size, total)
