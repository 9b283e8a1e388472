"""Page-number pagination in seed 004's shape.

`page` ≥ 1 and `page_size` 1–1000; anything else is a 400 naming the parameter
(not DRF's silent clamp), because a client that asked for 5,000 rows must know
it did not get them.
"""

import math
from urllib.parse import parse_qs, urlparse

from rest_framework.exceptions import NotFound as DRFNotFound
from rest_framework.pagination import BasePagination, CursorPagination

from apps.core.exceptions import ValidationFailed

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50


def parse_positive_int(params, name: str, default: int, maximum: int | None = None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ValidationFailed.for_field(name, "must be an integer", raw) from None
    if value < 1:
        raise ValidationFailed.for_field(name, "must be at least 1", value)
    if maximum is not None and value > maximum:
        raise ValidationFailed.for_field(name, f"must be at most {maximum}", value)
    return value


class PageNumberPagination(BasePagination):
    page_size = DEFAULT_PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE

    def paginate_queryset(self, queryset, request, view=None):
        if getattr(queryset, "ordered", True) is False:
            raise RuntimeError("refusing to paginate an unordered queryset")
        self.page = parse_positive_int(request.query_params, "page", 1)
        self.page_size = parse_positive_int(
            request.query_params, "page_size", self.page_size, self.max_page_size
        )
        self.total_items = queryset.count()
        self.total_pages = max(1, math.ceil(self.total_items / self.page_size))
        start = (self.page - 1) * self.page_size
        return list(queryset[start : start + self.page_size])

    def pagination_block(self) -> dict:
        return {
            "page": self.page,
            "page_size": self.page_size,
            "total_items": self.total_items,
            "total_pages": self.total_pages,
            "has_next": self.page < self.total_pages,
            "has_previous": self.page > 1,
        }


class TimeCursorPagination(CursorPagination):
    """Keyset pagination for deep scans of time series: as fast on page 10,000 as on page 1.

    Started by passing `cursor` (empty for the first page); each response
    gives `next_cursor`. Built on DRF's CursorPagination; cursors are opaque
    tokens rather than URLs, and a bad one is a 400, not a 404.
    """

    page_size = DEFAULT_PAGE_SIZE
    max_page_size = MAX_PAGE_SIZE
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def get_page_size(self, request):
        return parse_positive_int(
            request.query_params, "page_size", self.page_size, self.max_page_size
        )

    def encode_cursor(self, cursor):
        url = super().encode_cursor(cursor)
        return parse_qs(urlparse(url).query)[self.cursor_query_param][0]

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except DRFNotFound:
            raise ValidationFailed.for_field("cursor", "is not a cursor this API issued") from None

    def pagination_block(self) -> dict:
        return {
            "page_size": self.page_size,
            "next_cursor": self.get_next_link(),
            "previous_cursor": self.get_previous_link(),
            "has_next": self.has_next,
            "has_previous": self.has_previous,
        }


def parse_skip_limit(params, default_limit: int = DEFAULT_PAGE_SIZE) -> tuple[int, int]:
    """Seed 004's `skip` (≥ 0) and `limit` (1–1000) parameters."""
    raw_skip = params.get("skip")
    skip = 0
    if raw_skip not in (None, ""):
        try:
            skip = int(raw_skip)
        except (TypeError, ValueError):
            raise ValidationFailed.for_field("skip", "must be an integer", raw_skip) from None
        if skip < 0:
            raise ValidationFailed.for_field("skip", "must be 0 or more", skip)
    limit = parse_positive_int(params, "limit", default_limit, MAX_PAGE_SIZE)
    return skip, limit
