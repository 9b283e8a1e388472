"""FilterSets of constellations' lists (shared by the API and pages)."""

import django_filters

from apps.constellations.models import Localization
from apps.core.filters import IntegerFilter, RangeCheckedForm, StrictFilterSet


class LocalizationFilterForm(RangeCheckedForm):
    ranges = [("time_start", "time_end"), ("frequency_min", "frequency_max")]


class LocalizationFilterSet(StrictFilterSet):
    constellation_id = django_filters.UUIDFilter(field_name="constellation_id")
    time_start = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    time_end = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
    frequency_min = IntegerFilter(field_name="frequency_hz", lookup_expr="gte", min_value=0)
    frequency_max = IntegerFilter(field_name="frequency_hz", lookup_expr="lte", min_value=0)
    method = django_filters.ChoiceFilter(choices=Localization.Method.choices)
    trigger = django_filters.ChoiceFilter(choices=Localization.Trigger.choices)

    class Meta:
        model = Localization
        fields: list[str] = []
        form = LocalizationFilterForm
