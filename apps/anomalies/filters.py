import django_filters
from django import forms

from apps.anomalies.models import AnomalyEvent
from apps.core.filters import (
    RangeCheckedForm,
    StrictBooleanFilter,
    StrictFilterSet,
    UTCDateTimeFilter,
)
from apps.stations.models import Station


class AnomalyFilterForm(RangeCheckedForm):
    ranges = [("time_start", "time_end")]

    def clean_station(self):
        station = self.cleaned_data.get("station")
        if station and not Station.objects.filter(pk=station).exists():
            raise forms.ValidationError(f"unknown station '{station}'")
        return station


class SeverityFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """`severity=high` or `severity=high,critical`."""


class AnomalyFilterSet(StrictFilterSet):
    severity = SeverityFilter(choices=AnomalyEvent.Severity.choices, lookup_expr="in")
    acknowledged = StrictBooleanFilter()
    is_open = StrictBooleanFilter()
    station = django_filters.CharFilter(field_name="station_id", max_length=64)
    time_start = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    time_end = UTCDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = AnomalyEvent
        fields: list[str] = []
        form = AnomalyFilterForm
