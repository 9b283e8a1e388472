"""Console tables page through the core paginator the API lists use (apps.core.pagination):
the same `page` / `page_size` parameters, bounds and errors."""

from apps.core.pagination import PageNumberPaginator

PAGINATOR = PageNumberPaginator()


def paginate(queryset, params) -> tuple[list, dict]:
    """(rows of the asked page, seed 004's pagination block); 400 naming a bad parameter."""
    return PAGINATOR.paginate(queryset, params)
