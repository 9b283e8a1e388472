"""Query parameters of the recording list (a strict FilterSet: bad input is a 400 naming it)."""

import django_filters
from django import forms

from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.filters import RangeCheckedForm, StrictFilterSet, UTCDateTimeFilter
from apps.recordings.models import Recording


class FrequencyFilter(django_filters.Filter):
    """0–MAX_FREQUENCY_HZ, an integer (NumberFilter would add its own 1e50 bound)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=0, max_value=MAX_FREQUENCY_HZ, **kwargs)


class RecordingFilterForm(RangeCheckedForm):
    ranges = [("start_time", "end_time"), ("frequency_min", "frequency_max")]


class RecordingFilterSet(StrictFilterSet):
    """`station` (id), `start_time`/`end_time` (recordings overlapping the range, ISO 8601),
    `frequency` (Hz: recordings whose span covers it), `frequency_min`/`frequency_max`
    (recordings overlapping the range), `analysis_status`."""

    station = django_filters.CharFilter(field_name="station_id", max_length=64)
    start_time = UTCDateTimeFilter(field_name="end_time", lookup_expr="gte")
    end_time = UTCDateTimeFilter(field_name="start_time", lookup_expr="lte")
    frequency = FrequencyFilter(method="_covering")
    frequency_min = FrequencyFilter(field_name="frequency_max_hz", lookup_expr="gte")
    frequency_max = FrequencyFilter(field_name="frequency_min_hz", lookup_expr="lte")
    analysis_status = django_filters.ChoiceFilter(choices=Recording.AnalysisStatus.choices)

    class Meta:
        model = Recording
        fields: list[str] = []
        form = RecordingFilterForm

    def _covering(self, queryset, name, value):
        return queryset.filter(frequency_min_hz__lte=value, frequency_max_hz__gte=value)
