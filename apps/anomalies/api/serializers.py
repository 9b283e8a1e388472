from rest_framework import serializers

from apps.anomalies.models import AnomalyEvent
from apps.core.fields import RefuseUnknownFields
from apps.core.text import FreeTextField


class AnomalyListItemSerializer(serializers.ModelSerializer):
    station_id = serializers.CharField()

    class Meta:
        model = AnomalyEvent
        fields = [
            "id",
            "detection_id",
            "event_type",
            "severity",
            "description",
            "station_id",
            "frequency_hz",
            "anomaly_score",
            "acknowledged",
            "created_at",
            # grouping (docs/signals.md): still gathering its channel's detections, and
            # how many so far (metadata has first/last seen, duration and peak)
            "is_open",
            "detection_count",
        ]
        read_only_fields = ["is_open", "detection_count"]


class AnomalyEventSerializer(AnomalyListItemSerializer):
    class Meta(AnomalyListItemSerializer.Meta):
        fields = [
            *AnomalyListItemSerializer.Meta.fields,
            "metadata",
            "acknowledged_by",
            "acknowledged_at",
            "notes",
        ]


class AcknowledgeRequestSerializer(RefuseUnknownFields, serializers.Serializer):
    notes = FreeTextField(required=False, max_length=2000, default="")


class AcknowledgeResponseSerializer(serializers.ModelSerializer):
    class Meta:
        model = AnomalyEvent
        fields = ["id", "acknowledged", "acknowledged_by", "acknowledged_at", "notes"]


class SeverityCountsSerializer(serializers.Serializer):
    critical = serializers.IntegerField()
    high = serializers.IntegerField()
    medium = serializers.IntegerField()
    low = serializers.IntegerField()


class AnomalySummarySerializer(serializers.Serializer):
    """Seed 004's `summary` of the filtered events (all pages)."""

    total_anomalies = serializers.IntegerField()
    by_severity = SeverityCountsSerializer()
    acknowledged_count = serializers.IntegerField()
    unacknowledged_count = serializers.IntegerField()
