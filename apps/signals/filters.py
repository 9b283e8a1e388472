import django_filters

from apps.core.exceptions import ValidationFailed
from apps.core.filters import (
    FloatFilter,
    IntegerFilter,
    RangeCheckedForm,
    StrictBooleanFilter,
    StrictFilterSet,
)
from apps.signals.models import SignalDetection
from apps.signals.validation import MODULATION_TYPES
from apps.stations.models import Station


class DetectionFilterForm(RangeCheckedForm):
    ranges = [("frequency_min", "frequency_max"), ("time_start", "time_end")]


class DetectionFilterSet(StrictFilterSet):
    frequency_min = IntegerFilter(field_name="frequency_hz", lookup_expr="gte", min_value=0)
    frequency_max = IntegerFilter(field_name="frequency_hz", lookup_expr="lte", min_value=0)
    time_start = django_filters.IsoDateTimeFilter(
        field_name="detection_timestamp", lookup_expr="gte"
    )
    time_end = django_filters.IsoDateTimeFilter(field_name="detection_timestamp", lookup_expr="lte")
    websdr_station = django_filters.CharFilter(field_name="websdr_station_id", max_length=64)
    modulation_type = django_filters.ChoiceFilter(
        choices=[(m, m) for m in sorted(MODULATION_TYPES)]
    )
    is_anomaly = StrictBooleanFilter()
    min_anomaly_score = FloatFilter(
        field_name="anomaly_score", lookup_expr="gte", min_value=0, max_value=1
    )

    class Meta:
        model = SignalDetection
        fields: list[str] = []
        form = DetectionFilterForm

    def check_station_exists(self) -> None:
        """Unknown station → 400. Asked only when nothing matched: a hit proves the station."""
        station = self.form.cleaned_data.get("websdr_station")
        if station and not Station.objects.filter(pk=station).exists():
            raise ValidationFailed.for_field(
                "websdr_station", f"unknown station '{station}'", station
            )

    def filters_applied(self) -> dict:
        """Seed 004's `filters_applied`: what narrowed the result, as the client gave it."""
        data = self.form.cleaned_data
        applied: dict = {}
        if data.get("frequency_min") is not None or data.get("frequency_max") is not None:
            applied["frequency_range"] = [data.get("frequency_min"), data.get("frequency_max")]
        if data.get("time_start") or data.get("time_end"):
            applied["time_range"] = [
                self.data.get("time_start") or None,
                self.data.get("time_end") or None,
            ]
        if data.get("websdr_station"):
            applied["station"] = data["websdr_station"]
        for name in ("modulation_type", "is_anomaly", "min_anomaly_score"):
            if data.get(name) not in (None, ""):
                applied[name] = data[name]
        return applied
