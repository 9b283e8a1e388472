"""Paginators in the seeds' shapes, and the bounded integer parameters they read.

Every list endpoint answers in the shape its seed gives it, and this module
has one paginator per shape:

- `PageNumberPaginator` (`page`, `page_size`): seed 004's `pagination` with `page`,
  `page_size`, `total_items`, `total_pages`, `has_next`, `has_previous`;
- `SkipLimitPaginator` (`skip`, `limit`): seed 004's `pagination` with `skip`,
  `limit`, `total`;
- `LimitOffsetPaginator` (`limit`, `offset`): seed 000's `total` beside the list.

Each parameter is an `IntParam`: its bounds are what the validation refuses
(a 400 naming the parameter, not DRF's silent clamp: a client that asked for
5,000 rows must know it did not get them) and what the OpenAPI schema
declares, from the same object. Every integer has an upper bound, so no value
reaches the database as an out-of-range `bigint`
(`page=99999999999999999999` is a 400, not a 500).
"""

import math
import re
from dataclasses import dataclass

from apps.core.exceptions import ValidationFailed

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 50
# Deepest page / row offset a client may ask for: far past any list a person
# pages through (keyset cursors serve deeper reads), and page × page_size
# stays well inside PostgreSQL's bigint OFFSET.
MAX_PAGE = 1_000_000
MAX_OFFSET = 1_000_000_000
_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")


@dataclass(frozen=True)
class IntParam:
    """An optional integer query parameter with inclusive bounds and a default."""

    name: str
    minimum: int
    maximum: int
    default: int
    description: str = ""

    def parse(self, params) -> int:
        """The parameter's value from a QueryDict; 400 naming it when malformed or out of bounds."""
        raw = params.get(self.name)
        if raw is None or raw == "":
            return self.default
        # Digits only (an optional sign): int() would also take "1_000" and " 7 ".
        if not _INTEGER.fullmatch(raw):
            raise ValidationFailed.for_field(
                self.name, f"must be an integer from {self.minimum} to {self.maximum}", raw
            )
        value = int(raw)
        if value < self.minimum:
            raise ValidationFailed.for_field(self.name, f"must be at least {self.minimum}", value)
        if value > self.maximum:
            raise ValidationFailed.for_field(self.name, f"must be at most {self.maximum}", value)
        return value

    def openapi(self):
        """The parameter for drf-spectacular, bounds included."""
        from drf_spectacular.utils import OpenApiParameter

        schema = {
            "type": "integer",
            "minimum": self.minimum,
            "maximum": self.maximum,
            "default": self.default,
        }
        return OpenApiParameter(self.name, schema, description=self.description)


def parse_positive_int(params, name: str, default: int, maximum: int) -> int:
    """`name` as an integer from 1 to `maximum` (default when absent)."""
    return IntParam(name, 1, maximum, default).parse(params)


@dataclass(frozen=True)
class Window:
    """The rows a request asked for: `limit` rows after `offset`, and the parsed parameters."""

    offset: int
    limit: int
    values: dict


class Paginator:
    """Parameters → a window of rows → the response's pagination block.

    `items_key`: the key of the list in the response (`data` in seed 004, `jobs` or
    `datasets` in seed 000); the block sits under `pagination`, or beside the list
    for seed 000's `total`.
    """

    nested = True  # the block under "pagination" (seed 004), else merged into the body

    def __init__(
        self,
        *,
        default_limit: int = DEFAULT_PAGE_SIZE,
        max_limit: int = MAX_PAGE_SIZE,
        items_key: str = "data",
    ):
        self.default_limit = default_limit
        self.max_limit = max_limit
        self.items_key = items_key
        self._params = self.build_params()

    def params(self) -> list[IntParam]:
        """The paginator's parameters (built once: parsing them is on every list request)."""
        return self._params

    def build_params(self) -> list[IntParam]:
        raise NotImplementedError

    def body(self, rows, block: dict, **extra) -> dict:
        """The response body: the rows, the pagination block, then `extra` (summaries...)."""
        if self.nested:
            return {self.items_key: rows, "pagination": block, **extra}
        return {self.items_key: rows, **block, **extra}

    def response_serializer(self, name: str, item, **extra_fields):
        """A serializer documenting `body()` for the OpenAPI schema (component `name`).

        `item`: the row serializer class; `extra_fields`: serializer fields for `extra`.
        """
        from rest_framework import serializers

        block = _block_serializer(self)
        fields = {self.items_key: item(many=True)}
        if self.nested:
            fields["pagination"] = block()
        else:
            fields.update(block().get_fields())
        fields.update(extra_fields)
        return _named_serializer(name, fields, serializers.Serializer)

    def window(self, params) -> Window:
        raise NotImplementedError

    def block(self, window: Window, total: int) -> dict:
        raise NotImplementedError

    def parameters(self) -> list:
        return [param.openapi() for param in self.params()]

    def paginate(self, queryset, params) -> tuple[list, dict]:
        """(one page of `queryset`, its block): two queries, a count and the page.

        Refuses an unordered queryset (NetBox's rule): pages of it would overlap.
        """
        if getattr(queryset, "ordered", True) is False:
            raise RuntimeError("refusing to paginate an unordered queryset")
        window = self.window(params)
        total = queryset.count()
        rows = list(queryset[window.offset : window.offset + window.limit]) if total else []
        return rows, self.block(window, total)


class PageNumberPaginator(Paginator):
    """Seed 004's page-number pagination (detections, anomalies)."""

    def build_params(self) -> list[IntParam]:
        return [
            IntParam("page", 1, MAX_PAGE, 1, "1-based page number"),
            IntParam(
                "page_size",
                1,
                self.max_limit,
                self.default_limit,
                f"Rows per page, 1-{self.max_limit} (default {self.default_limit})",
            ),
        ]

    def window(self, params) -> Window:
        page_param, size_param = self.params()
        page, page_size = page_param.parse(params), size_param.parse(params)
        return Window((page - 1) * page_size, page_size, {"page": page, "page_size": page_size})

    def block(self, window: Window, total: int) -> dict:
        return page_number_block(window.values["page"], window.values["page_size"], total)


PAGE_NUMBER_FIELDS = ("page", "page_size", "total_items", "total_pages", "has_next", "has_previous")


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


class SkipLimitPaginator(Paginator):
    """Seed 004's `skip`/`limit` pagination (constellations, the user directory)."""

    def build_params(self) -> list[IntParam]:
        return [
            IntParam("skip", 0, MAX_OFFSET, 0, "Rows to skip"),
            IntParam(
                "limit",
                1,
                self.max_limit,
                self.default_limit,
                f"Rows to return, 1-{self.max_limit} (default {self.default_limit})",
            ),
        ]

    def window(self, params) -> Window:
        skip_param, limit_param = self.params()
        skip, limit = skip_param.parse(params), limit_param.parse(params)
        return Window(skip, limit, {"skip": skip, "limit": limit})

    def block(self, window: Window, total: int) -> dict:
        return {"skip": window.offset, "limit": window.limit, "total": total}


class LimitOffsetPaginator(Paginator):
    """Seed 000's `limit`/`offset` (training jobs, datasets); `total` beside the list."""

    nested = False

    def build_params(self) -> list[IntParam]:
        return [
            IntParam(
                "limit",
                1,
                self.max_limit,
                self.default_limit,
                f"Rows to return, 1-{self.max_limit} (default {self.default_limit})",
            ),
            IntParam("offset", 0, MAX_OFFSET, 0, "Rows to skip"),
        ]

    def window(self, params) -> Window:
        limit_param, offset_param = self.params()
        limit, offset = limit_param.parse(params), offset_param.parse(params)
        return Window(offset, limit, {"limit": limit, "offset": offset})

    def block(self, window: Window, total: int) -> dict:
        return {"total": total}


def parse_skip_limit(params, default_limit: int = DEFAULT_PAGE_SIZE) -> tuple[int, int]:
    """Seed 004's `skip` (0 to MAX_OFFSET) and `limit` (1 to MAX_PAGE_SIZE) parameters."""
    window = SkipLimitPaginator(default_limit=default_limit).window(params)
    return window.offset, window.limit


# --- the blocks as serializers, for the OpenAPI schema ---------------------------

_NAMED: dict[str, type] = {}


def _named_serializer(name: str, fields: dict, base):
    """One serializer class per component name (the schema must not see two `name`s)."""
    if name not in _NAMED:
        _NAMED[name] = type(name, (base,), {**fields, "__module__": __name__})
    return _NAMED[name]()


def _block_serializer(paginator: Paginator):
    from rest_framework import serializers

    if isinstance(paginator, PageNumberPaginator):
        fields = {
            name: (
                serializers.BooleanField if name.startswith("has_") else serializers.IntegerField
            )()
            for name in PAGE_NUMBER_FIELDS
        }
        name = "PageNumberPagination"
    elif isinstance(paginator, SkipLimitPaginator):
        fields = {name: serializers.IntegerField() for name in ("skip", "limit", "total")}
        name = "SkipLimitPagination"
    else:
        fields = {"total": serializers.IntegerField()}
        name = "LimitOffsetTotal"
    if name not in _NAMED:
        _NAMED[name] = type(name, (serializers.Serializer,), {**fields, "__module__": __name__})
    return _NAMED[name]
