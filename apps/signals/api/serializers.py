from rest_framework import serializers

from apps.signals.models import SignalDetection
from apps.signals.queries import LIST_FIELDS


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


class DetectionInputSerializer(serializers.Serializer):
    """Documentation of one ingested detection; validation is apps.signals.validation."""

    id = serializers.UUIDField(required=False, help_text="Client id: a retry is not stored twice.")
    websdr_station_id = serializers.CharField()
    frequency_hz = serializers.IntegerField(min_value=0)
    signal_strength_db = serializers.FloatField()
    bandwidth_hz = serializers.IntegerField(required=False, allow_null=True)
    modulation_type = serializers.CharField(required=False)
    signal_features = serializers.DictField(child=serializers.FloatField(), required=False)
    anomaly_score = serializers.FloatField(required=False, allow_null=True)
    is_anomaly = serializers.BooleanField(required=False)
    detection_timestamp = serializers.DateTimeField()
    processing_metadata = serializers.DictField(required=False)


class IngestRequestSerializer(serializers.Serializer):
    detections = DetectionInputSerializer(many=True)


class IngestResponseSerializer(serializers.Serializer):
    ingested = serializers.IntegerField()
    duplicates = serializers.IntegerField()


class SignalDataSerializer(serializers.Serializer):
    samples = serializers.ListField(help_text="Real samples, or [i, q] pairs for complex I/Q")
    sample_rate = serializers.FloatField()
    frequency = serializers.IntegerField(help_text="Centre (tuned) frequency, Hz")
    duration = serializers.FloatField(required=False)


class AnalysisConfigSerializer(serializers.Serializer):
    fft_size = serializers.IntegerField(default=1024)
    overlap = serializers.FloatField(default=0.5)
    window_function = serializers.ChoiceField(
        ["hann", "hamming", "blackman", "rectangular"], default="hann"
    )


class AnalyzeRequestSerializer(serializers.Serializer):
    """Documentation of the request; validation is apps.signals.analysis."""

    signal_data = SignalDataSerializer()
    analysis_config = AnalysisConfigSerializer(required=False)
