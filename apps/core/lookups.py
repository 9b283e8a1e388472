"""Small request helpers shared by the API views."""

import uuid

from django.http import Http404

from apps.core.exceptions import ValidationFailed


def parse_uuid_or_404(raw_id: str) -> uuid.UUID:
    """A path id as a UUID; a malformed one names nothing that exists: 404."""
    try:
        return uuid.UUID(str(raw_id))
    except ValueError:
        raise Http404 from None


def get_by_uuid_or_404(queryset, raw_id: str):
    """The object whose UUID pk is `raw_id`; 404 for a malformed or unknown id."""
    found = queryset.filter(pk=parse_uuid_or_404(raw_id)).first()
    if found is None:
        raise Http404
    return found


def choice_param(params, name: str, choices) -> str | None:
    """An optional query parameter that must be one of `choices` (400 naming it otherwise)."""
    value = params.get(name)
    if not value:
        return None
    if value not in choices:
        raise ValidationFailed.for_field(name, f"must be one of {', '.join(choices)}", value)
    return value


def offset_param(params, name: str = "offset") -> int:
    """A row offset, 0 to MAX_OFFSET (apps.core.pagination): never an out-of-range bigint."""
    from apps.core.pagination import MAX_OFFSET, IntParam

    return IntParam(name, 0, MAX_OFFSET, 0).parse(params)
