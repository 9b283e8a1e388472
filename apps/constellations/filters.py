"""FilterSets of constellations' lists (shared by the API and pages)."""

import django_filters
from django import forms

from apps.constellations.models import Localization
from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.filters import RangeCheckedForm, StrictFilterSet, UTCDateTimeFilter


class FrequencyFilter(django_filters.Filter):
    """0–MAX_FREQUENCY_HZ, an integer (NumberFilter would add its own 1e50 bound)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=0, max_value=MAX_FREQUENCY_HZ, **kwargs)


class LocalizationFilterForm(RangeCheckedForm):
    ranges = [("time_start", "time_end"), ("frequency_min", "frequency_max")]


class LocalizationFilterSet(StrictFilterSet):
    constellation_id = django_filters.UUIDFilter(field_name="constellation_id")
    time_start = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    time_end = UTCDateTimeFilter(field_name="created_at", lookup_expr="lte")
    frequency_min = FrequencyFilter(field_name="frequency_hz", lookup_expr="gte")
    frequency_max = FrequencyFilter(field_name="frequency_hz", lookup_expr="lte")
    method = django_filters.ChoiceFilter(choices=Localization.Method.choices)
    trigger = django_filters.ChoiceFilter(choices=Localization.Trigger.choices)

    class Meta:
        model = Localization
        fields: list[str] = []
        form = LocalizationFilterForm
