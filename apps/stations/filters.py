"""The station list's filters (the same FilterSet serves the API and any page)."""

import django_filters

from apps.core.filters import StrictFilterSet
from apps.stations.models import Station


class StationFilterSet(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=Station.Status.choices)

    class Meta:
        model = Station
        fields: list[str] = []
