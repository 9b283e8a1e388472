"""Page-number pagination in seed 004's shape.

`page` 1–1,000,000 and `page_size` 1–1000; anything else is a 400 naming the parameter
(not DRF's silent clamp), because a client that asked for 5,000 rows must know
it did not get them.
"""

import math

from rest_framework.pagination import BasePagination

from apps.core.numbers import INT64_MAX, MAX_OFFSET, MAX_PAGE
from apps.core.params import bounded_int

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50


def parse_positive_int(params, name: str, default: int, maximum: int = INT64_MAX) -> int:
    """A query parameter ≥ 1 and ≤ `maximum` (never unbounded: see apps.core.numbers)."""
    return bounded_int(params, name, default=default, minimum=1, maximum=maximum)


def parse_page(params) -> int:
    """`page`: 1 to MAX_PAGE (a million; the keyset cursor serves deeper reads)."""
    return parse_positive_int(params, "page", 1, MAX_PAGE)


class PageNumberPagination(BasePagination):
    page_size = DEFAULT_PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE

    def paginate_queryset(self, queryset, request, view=None):
        if getattr(queryset, "ordered", True) is False:
            raise RuntimeError("refusing to paginate an unordered queryset")
        self.page = parse_page(request.query_params)
        self.page_size = parse_positive_int(
            request.query_params, "page_size", self.page_size, self.max_page_size
        )
        self.total_items = queryset.count()
        start = (self.page - 1) * self.page_size
        return list(queryset[start : start + self.page_size])

    def pagination_block(self) -> dict:
        return page_number_block(self.page, self.page_size, self.total_items)


def page_number_block(page: int, page_size: int, total_items: int) -> dict:
    """Seed 004's `pagination` object."""
    total_pages = max(1, math.ceil(total_items / page_size))
    return {
        "page": page,
        "page_size": page_size,
        "total_items": total_items,
        "total_pages": total_pages,
        "has_next": page < total_pages,
        "has_previous": page > 1,
    }


def parse_skip_limit(params, default_limit: int = DEFAULT_PAGE_SIZE) -> tuple[int, int]:
    """Seed 004's `skip` (0 to MAX_OFFSET) and `limit` (1–1000) parameters."""
    skip = bounded_int(params, "skip", default=0, minimum=0, maximum=MAX_OFFSET)
    limit = parse_positive_int(params, "limit", default_limit, MAX_PAGE_SIZE)
    return skip, limit
