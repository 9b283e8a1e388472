"""The user directory's filters."""

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q

from apps.core.filters import StrictFilterSet

MAX_SEARCH_LENGTH = 150


class UserDirectoryFilterSet(StrictFilterSet):
    search = django_filters.CharFilter(
        method="filter_search",
        max_length=MAX_SEARCH_LENGTH,
        help_text="Part of a username or display name",
    )

    class Meta:
        model = get_user_model()
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(username__icontains=value)
            | Q(display_name__icontains=value)
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
        )
