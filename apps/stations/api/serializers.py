import math

from rest_framework import serializers

from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.fields import JSONFloatField, JSONIntegerField, RefuseUnknownFields
from apps.core.merge import json_merge_patch
from apps.core.text import NameField
from apps.stations.models import Station, default_api_config
from apps.stations.validators import api_config_errors, validate_station_id


def _finite(value: float, field: str) -> float:
    if not math.isfinite(value):
        raise serializers.ValidationError({field: "must be a finite number"})
    return value


class StationListSerializer(serializers.ModelSerializer):
    class Meta:
        model = Station
        fields = [
            "id",
            "name",
            "url",
            "location",
            "latitude",
            "longitude",
            "frequency_min",
            "frequency_max",
            "status",
            "last_seen",
        ]


class StationStatisticsSerializer(serializers.Serializer):
    uptime_percentage = serializers.FloatField(allow_null=True)
    average_response_time_ms = serializers.FloatField(allow_null=True)
    total_detections_24h = serializers.IntegerField()
    anomalies_detected_24h = serializers.IntegerField()


class ApiConfigField(serializers.JSONField):
    """api_config, validated key by key so errors name `api_config.<key>`.

    PATCH merges the object sent into the stored one (RFC 7396: a key set to
    null is removed, other keys are kept); POST and PUT replace it (the
    defaults plus the keys sent). The result is validated as a whole.
    """

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        if not isinstance(data, dict):
            raise serializers.ValidationError("must be an object")
        parent = self.parent
        if parent is not None and parent.partial and parent.instance is not None:
            config = json_merge_patch(parent.instance.api_config, data)
        else:
            config = json_merge_patch(default_api_config(), data)
        errors = api_config_errors(config)
        if "" in errors:
            raise serializers.ValidationError(errors[""])
        if errors:
            raise serializers.ValidationError(errors)  # reported as api_config.<key>
        return config


class StationDetailSerializer(RefuseUnknownFields, serializers.ModelSerializer):
    id = serializers.CharField(
        max_length=64,
        validators=[validate_station_id],
        help_text="A slug: lowercase letters, digits, inner hyphens; not `new` (reserved)",
    )
    name = NameField(max_length=255)
    location = NameField(max_length=255, required=False, allow_blank=True)
    api_config = ApiConfigField(required=False)
    latitude = JSONFloatField(min_value=-90, max_value=90)
    longitude = JSONFloatField(min_value=-180, max_value=180)
    frequency_min = JSONIntegerField(min_value=0, max_value=MAX_FREQUENCY_HZ)
    frequency_max = JSONIntegerField(min_value=1, max_value=MAX_FREQUENCY_HZ)
    calibration_offset_db = JSONFloatField(min_value=-100, max_value=100, required=False)
    statistics = serializers.SerializerMethodField()

    class Meta:
        model = Station
        fields = [
            "id",
            "name",
            "url",
            "location",
            "latitude",
            "longitude",
            "frequency_min",
            "frequency_max",
            "status",
            "api_config",
            "calibration_offset_db",
            "statistics",
            "last_seen",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["last_seen", "created_at", "updated_at"]
        extra_kwargs = {"status": {"required": False}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance is not None:
            self.fields["id"].required = False  # the URL names the station on update

    def get_statistics(self, station) -> StationStatisticsSerializer:
        return self.context.get("statistics")

    def validate_id(self, value):
        if self.instance is not None and value != self.instance.id:
            raise serializers.ValidationError("a station's id cannot be changed")
        return value

    def validate(self, attrs):
        _finite(attrs.get("latitude", 0.0), "latitude")
        _finite(attrs.get("longitude", 0.0), "longitude")
        _finite(attrs.get("calibration_offset_db", 0.0), "calibration_offset_db")
        low = attrs.get("frequency_min", getattr(self.instance, "frequency_min", None))
        high = attrs.get("frequency_max", getattr(self.instance, "frequency_max", None))
        if low is not None and high is not None and high <= low:
            raise serializers.ValidationError(
                {"frequency_max": "must be greater than frequency_min"}
            )
        return attrs


class StationStatusSerializer(serializers.Serializer):
    station_id = serializers.CharField()
    status = serializers.CharField()
    connection_status = serializers.CharField()
    connection_error = serializers.CharField(
        allow_null=True,
        help_text="While connection_status is error: the reason, in the receiver's own terms "
        "(e.g. a KiwiSDR refusal, an OpenWebRX backoff, an unreachable host).",
    )
    last_data_received = serializers.DateTimeField(allow_null=True)
    response_time_ms = serializers.FloatField(allow_null=True)
    current_listeners = serializers.IntegerField(allow_null=True)
    signal_quality = serializers.FloatField(allow_null=True)
    frequency_coverage = serializers.DictField()


class StationListResponseSerializer(serializers.Serializer):
    data = StationListSerializer(many=True)
    total_count = serializers.IntegerField()
    active_count = serializers.IntegerField()
    inactive_count = serializers.IntegerField()
