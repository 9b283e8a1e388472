"""Lazy pagination: an async iterator that fetches the next page only when needed.

Heimdall pages three ways (docs/api.md, docs/signals.md):

- numbered pages (`page`, `page_size`; `pagination.has_next`): anomalies,
  localizations, detections in page mode;
- keyset cursors (`cursor`; `pagination.next_cursor`): detections, for deep
  scans; each detection is seen exactly once even while new ones arrive;
- offsets (`skip`/`limit` with `pagination.total`, or `offset`/`limit` with
  `total`): API keys, constellations, users, training jobs, runs, datasets.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")

PageFetcher = Callable[[dict[str, Any]], Awaitable[Any]]


class AsyncPager(Generic[T]):
    """`async for item in pager` walks every page; `pager.pages()` yields whole pages.

    Nothing is fetched before iteration starts; each page is fetched when the
    previous one is used up. `limit` stops after that many items.
    """

    def __init__(
        self,
        fetch: PageFetcher,
        *,
        mode: str,
        items: str,
        page_size: int,
        limit: int | None = None,
        offset_names: tuple[str, str] = ("skip", "limit"),
    ) -> None:
        self._fetch = fetch
        self._mode = mode
        self._items = items
        self._page_size = page_size
        self._limit = limit
        self._offset_names = offset_names
        self.pages_fetched = 0

    async def pages(self) -> AsyncIterator[Any]:
        """Each page's typed response, fetched lazily."""
        if self._mode == "cursor":
            params: dict[str, Any] = {"cursor": "", "page_size": self._page_size}
            while True:
                page = await self._fetch(params)
                self.pages_fetched += 1
                yield page
                nxt = page.pagination.next_cursor
                if not page.pagination.has_next or not nxt:
                    return
                params = {"cursor": nxt, "page_size": self._page_size}
        elif self._mode == "page":
            number = 1
            while True:
                page = await self._fetch({"page": number, "page_size": self._page_size})
                self.pages_fetched += 1
                yield page
                if not page.pagination.has_next:
                    return
                number += 1
        else:
            start_name, size_name = self._offset_names
            start = 0
            while True:
                page = await self._fetch({start_name: start, size_name: self._page_size})
                self.pages_fetched += 1
                yield page
                got = len(getattr(page, self._items))
                total = page.pagination.total if hasattr(page, "pagination") else page.total
                start += got
                if got == 0 or start >= total:
                    return

    async def __aiter__(self) -> AsyncIterator[T]:
        seen = 0
        async for page in self.pages():
            for item in getattr(page, self._items):
                yield item
                seen += 1
                if self._limit is not None and seen >= self._limit:
                    return

    async def to_list(self) -> list[T]:
        """Every item (mind the size of what you ask for)."""
        return [item async for item in self]
