"""Query parameters of the recording list (a strict FilterSet: bad input is a 400 naming it)."""

import django_filters

from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.exceptions import ValidationFailed
from apps.core.filters import IntegerFilter, StrictFilterSet
from apps.recordings.models import Recording


class RecordingFilterSet(StrictFilterSet):
    """`station` (id), `start_time`/`end_time` (recordings overlapping the range, ISO 8601),
    `frequency` (Hz: recordings whose span covers it), `frequency_min`/`frequency_max`
    (recordings overlapping the range), `analysis_status`."""

    station = django_filters.CharFilter(field_name="station_id", max_length=64)
    start_time = django_filters.IsoDateTimeFilter(field_name="end_time", lookup_expr="gte")
    end_time = django_filters.IsoDateTimeFilter(field_name="start_time", lookup_expr="lte")
    frequency = IntegerFilter(method="_covering", min_value=0, max_value=MAX_FREQUENCY_HZ)
    frequency_min = IntegerFilter(
        field_name="frequency_max_hz", lookup_expr="gte", min_value=0, max_value=MAX_FREQUENCY_HZ
    )
    frequency_max = IntegerFilter(
        field_name="frequency_min_hz", lookup_expr="lte", min_value=0, max_value=MAX_FREQUENCY_HZ
    )
    analysis_status = django_filters.ChoiceFilter(choices=Recording.AnalysisStatus.choices)

    class Meta:
        model = Recording
        fields: list[str] = []

    def _covering(self, queryset, name, value):
        return queryset.filter(frequency_min_hz__lte=value, frequency_max_hz__gte=value)

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        start, end = data.get("start_time"), data.get("end_time")
        if start and end and end < start:
            raise ValidationFailed.for_field("end_time", "must not be before start_time")
        low, high = data.get("frequency_min"), data.get("frequency_max")
        if low is not None and high is not None and high < low:
            raise ValidationFailed.for_field("frequency_max", "must not be below frequency_min")
        return super().filter_queryset(queryset)
