import re

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.bands import MAX_FREQUENCY_HZ
from apps.radio import dsp
from apps.signals import analysis, validation
from apps.signals.models import SignalDetection
from apps.signals.queries import LIST_FIELDS, STATION_ID_MAX_LENGTH
from apps.signals.services import MAX_BATCH


class DetectionListItemSerializer(serializers.ModelSerializer):
    websdr_station_id = serializers.CharField()

    class Meta:
        model = SignalDetection
        fields = LIST_FIELDS  # what apps.signals.queries selects for a list row


class DetectionPaginationSerializer(serializers.Serializer):
    """Seed 004's page block; in keyset mode (`cursor` given) page_size, the cursors and
    has_next/has_previous instead of page numbers and totals."""

    page = serializers.IntegerField(required=False)
    page_size = serializers.IntegerField()
    total_items = serializers.IntegerField(required=False)
    total_pages = serializers.IntegerField(required=False)
    has_next = serializers.BooleanField()
    has_previous = serializers.BooleanField()
    next_cursor = serializers.CharField(required=False, allow_null=True)
    previous_cursor = serializers.CharField(required=False, allow_null=True)


class FiltersAppliedSerializer(serializers.Serializer):
    """Seed 004's `filters_applied`: what narrowed the list, as the client gave it."""

    frequency_range = serializers.ListField(
        child=serializers.IntegerField(allow_null=True), min_length=2, max_length=2,
        required=False,
    )  # fmt: skip
    time_range = serializers.ListField(
        child=serializers.CharField(allow_null=True), min_length=2, max_length=2, required=False
    )
    station = serializers.CharField(required=False)
    modulation_type = serializers.CharField(required=False)
    is_anomaly = serializers.BooleanField(required=False)
    min_anomaly_score = serializers.FloatField(required=False)


class DetectionListResponseSerializer(serializers.Serializer):
    data = DetectionListItemSerializer(many=True)
    pagination = DetectionPaginationSerializer()
    filters_applied = FiltersAppliedSerializer()


class DetectionSerializer(DetectionListItemSerializer):
    class Meta(DetectionListItemSerializer.Meta):
        fields = [
            *DetectionListItemSerializer.Meta.fields[:6],
            "signal_features",
            *DetectionListItemSerializer.Meta.fields[6:],
            "processing_metadata",
            "created_at",
            "updated_at",
        ]


def _any_case(words) -> str:
    """A regular expression matching any of `words` in any letter case, or nothing."""
    spelt = [
        "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)
        for word in sorted(words)
    ]
    return f"^({'|'.join(spelt)})?$"


@extend_schema_field(
    {
        "type": "object",
        "nullable": True,
        "maxProperties": validation.MAX_FEATURES,
        "additionalProperties": {"type": "number", "nullable": True},
        "description": f"Named finite numbers (names up to "
        f"{validation.MAX_FEATURE_NAME_LENGTH} characters)",
    }
)
class FeaturesField(serializers.DictField):
    pass


@extend_schema_field(
    {
        "type": "string",
        "nullable": True,
        "pattern": _any_case(validation.MODULATION_TYPES),
        "description": f"One of {', '.join(sorted(validation.MODULATION_TYPES))} (any case), "
        "or empty",
    }
)
class ModulationField(serializers.CharField):
    pass


@extend_schema_field({"type": "object", "nullable": True, "additionalProperties": True})
class FreeObjectField(serializers.DictField):
    pass


class DetectionInputSerializer(serializers.Serializer):
    """Documentation of one ingested detection: validation is apps.signals.validation, and
    every bound here is one of its constants (a test probes each against the API)."""

    id = serializers.UUIDField(required=False, help_text="Client id: a retry is not stored twice.")
    websdr_station_id = serializers.CharField(
        max_length=STATION_ID_MAX_LENGTH, help_text="A registered station's id"
    )
    frequency_hz = serializers.IntegerField(min_value=0, max_value=MAX_FREQUENCY_HZ)
    signal_strength_db = serializers.FloatField(
        min_value=validation.STRENGTH_MIN_DB, max_value=validation.STRENGTH_MAX_DB
    )
    bandwidth_hz = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=validation.MAX_BANDWIDTH_HZ
    )
    modulation_type = ModulationField(required=False, allow_null=True)
    signal_features = FeaturesField(required=False)
    anomaly_score = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=1
    )
    is_anomaly = serializers.BooleanField(required=False, allow_null=True)
    detection_timestamp = serializers.DateTimeField(
        help_text="Not in the future (1 h of clock skew allowed), not older than the retention"
    )
    processing_metadata = FreeObjectField(required=False)


class IngestRequestSerializer(serializers.Serializer):
    detections = serializers.ListField(
        child=DetectionInputSerializer(), min_length=1, max_length=MAX_BATCH
    )


class IngestResponseSerializer(serializers.Serializer):
    ingested = serializers.IntegerField()
    duplicates = serializers.IntegerField()


class SignalDataSerializer(serializers.Serializer):
    samples = serializers.ListField(
        child=serializers.JSONField(),
        min_length=analysis.MIN_SAMPLES,
        help_text="Real samples, or [i, q] pairs for complex I/Q; at most "
        "HEIMDALL_ANALYZE_MAX_SAMPLES (480,000 by default; more is a 413)",
    )
    sample_rate = serializers.FloatField(
        min_value=analysis.SAMPLE_RATE_MIN, max_value=analysis.SAMPLE_RATE_MAX, help_text="Hz"
    )
    frequency = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=MAX_FREQUENCY_HZ,
        help_text="Centre (tuned) frequency, Hz",
    )
    duration = serializers.FloatField(
        required=False,
        min_value=analysis.DURATION_MIN,
        max_value=analysis.DURATION_MAX,
        help_text="Seconds",
    )


class AnalysisConfigSerializer(serializers.Serializer):
    fft_size = serializers.IntegerField(
        required=False,
        min_value=analysis.FFT_SIZE_MIN,
        max_value=analysis.FFT_SIZE_MAX,
        help_text=f"A power of two (default {analysis.DEFAULT_FFT_SIZE})",
    )
    overlap = serializers.FloatField(
        required=False, min_value=analysis.OVERLAP_MIN, max_value=analysis.OVERLAP_MAX
    )
    window_function = serializers.ChoiceField(list(dsp.WINDOWS), required=False)


class AnalyzeRequestSerializer(serializers.Serializer):
    """Documentation of the request: validation is apps.signals.analysis, and every bound
    here is one of its constants (a test probes each against the API)."""

    signal_data = SignalDataSerializer()
    analysis_config = AnalysisConfigSerializer(required=False, allow_null=True)


class CarrierSerializer(serializers.Serializer):
    frequency_hz = serializers.IntegerField()
    bandwidth_hz = serializers.IntegerField()
    signal_strength_db = serializers.FloatField()
    snr_estimate = serializers.FloatField()
    modulation_type = serializers.CharField()


class AnalyzeResponseSerializer(serializers.Serializer):
    analysis_id = serializers.UUIDField()
    signal_features = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="spectral_centroid, bandwidth, "
        "snr_estimate, peak_frequency, ..."
    )  # fmt: skip
    anomaly_score = serializers.FloatField(allow_null=True)
    is_anomaly = serializers.BooleanField()
    confidence = serializers.FloatField(allow_null=True)
    carriers = CarrierSerializer(many=True)
    processing_time_ms = serializers.FloatField()
    model_version = serializers.CharField(allow_null=True)


# --- statistics (documentation of apps.signals.statistics' answers) ------------


class _Counts(serializers.DictField):
    def __init__(self, **kwargs):
        super().__init__(child=serializers.IntegerField(), **kwargs)


class SummaryDetectionsSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_station = _Counts(help_text="Detections per station id, most first")
    by_frequency_band = _Counts(help_text="Detections per ITU band (hf, vhf, uhf, ...)")


class SummaryAnomaliesSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    by_severity = _Counts(help_text="critical, high, medium, low")
    detection_rate = serializers.FloatField(help_text="Anomalies per detection")


class SummaryHealthSerializer(serializers.Serializer):
    uptime_percentage = serializers.FloatField(allow_null=True)
    average_processing_time_ms = serializers.FloatField(allow_null=True)
    active_stations = serializers.IntegerField()
    total_stations = serializers.IntegerField()


class StatisticsSummarySerializer(serializers.Serializer):
    time_period = serializers.CharField()
    generated_at = serializers.DateTimeField()
    signal_detections = SummaryDetectionsSerializer()
    anomalies = SummaryAnomaliesSerializer()
    system_health = SummaryHealthSerializer()


class FrequencyBinSerializer(serializers.Serializer):
    frequency_start = serializers.IntegerField()
    frequency_end = serializers.IntegerField()
    signal_count = serializers.IntegerField()
    average_strength = serializers.FloatField()
    anomaly_count = serializers.IntegerField()


class UsageBucketSerializer(serializers.Serializer):
    timestamp = serializers.DateTimeField()
    frequency_bins = FrequencyBinSerializer(many=True)


class PopularFrequencySerializer(serializers.Serializer):
    frequency = serializers.IntegerField()
    signal_count = serializers.IntegerField()
    percentage = serializers.FloatField()


class FrequencyUsageSerializer(serializers.Serializer):
    frequency_range = serializers.ListField(
        child=serializers.IntegerField(), min_length=2, max_length=2
    )
    time_period = serializers.CharField()
    granularity = serializers.CharField()
    bin_width_hz = serializers.IntegerField()
    total_signals = serializers.IntegerField()
    data = UsageBucketSerializer(many=True)
    popular_frequencies = PopularFrequencySerializer(many=True)
