from rest_framework import serializers

from apps.core.fields import JSONBooleanField, JSONFloatField, JSONIntegerField, RefuseUnknownFields
from apps.core.text import FreeTextField, NameField
from apps.training.generator import DEFAULT_PARAMETERS as D
from apps.training.models import SyntheticDataset


class GenerateSerializer(RefuseUnknownFields, serializers.Serializer):
    """Seed 000's synthetic data parameters, with their ranges and defaults."""

    name = NameField(max_length=255)
    description = FreeTextField(required=False, max_length=5000, default="")
    dataset_type = serializers.ChoiceField(SyntheticDataset.Type.values, default="localization")
    num_samples = JSONIntegerField(min_value=1, max_value=200_000, default=D["num_samples"])
    use_random_receivers = JSONBooleanField(default=True)
    constellation_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    min_receivers_count = serializers.IntegerField(
        min_value=3, max_value=15, default=D["min_receivers_count"]
    )
    max_receivers_count = serializers.IntegerField(
        min_value=3, max_value=15, default=D["max_receivers_count"]
    )
    receiver_seed = serializers.IntegerField(
        min_value=0, max_value=2**32 - 1, required=False, allow_null=True, default=None
    )
    area_lat_min = JSONFloatField(min_value=-90, max_value=90, default=D["area_lat_min"])
    area_lat_max = JSONFloatField(min_value=-90, max_value=90, default=D["area_lat_max"])
    area_lon_min = JSONFloatField(min_value=-180, max_value=180, default=D["area_lon_min"])
    area_lon_max = JSONFloatField(min_value=-180, max_value=180, default=D["area_lon_max"])
    frequency_mhz = serializers.FloatField(
        min_value=0.01, max_value=30_000, default=D["frequency_mhz"]
    )
    tx_power_dbm = JSONFloatField(min_value=-30, max_value=90, default=D["tx_power_dbm"])
    min_snr_db = JSONFloatField(min_value=-30, max_value=60, default=D["min_snr_db"])
    min_receivers = JSONIntegerField(min_value=3, max_value=15, default=D["min_receivers"])
    max_gdop = JSONFloatField(min_value=0.1, max_value=1000, default=D["max_gdop"])
    # dataset_type "signals"
    snr_min_db = JSONFloatField(min_value=-30, max_value=60, default=D["snr_min_db"])
    snr_max_db = JSONFloatField(min_value=-30, max_value=60, default=D["snr_max_db"])
    clip_samples = serializers.IntegerField(
        min_value=256, max_value=65_536, default=D["clip_samples"]
    )
    # dataset_type "recordings": labelled clips of SigMF recordings (min_snr_db above
    # applies to the clips' measured SNR; clips without one are left out then)
    only_approved = serializers.BooleanField(default=True)
    labels = serializers.ListField(
        child=NameField(max_length=64), required=False, max_length=100, default=list
    )
    recording_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=1000, default=list
    )
    max_segments_per_clip = serializers.IntegerField(min_value=1, max_value=256, default=32)
    synthetic_samples = serializers.IntegerField(
        min_value=0,
        max_value=200_000,
        default=0,
        help_text="recordings: synthetic clips mixed in (the simulator's classes)",
    )

    def validate(self, attrs):
        pairs = [
            ("min_receivers_count", "max_receivers_count"),
            ("area_lat_min", "area_lat_max"),
            ("area_lon_min", "area_lon_max"),
            ("snr_min_db", "snr_max_db"),
        ]
        for low, high in pairs:
            if attrs[high] < attrs[low] or (high.startswith("area") and attrs[high] == attrs[low]):
                raise serializers.ValidationError({high: f"must be above {low}"})
        if attrs["use_random_receivers"] and attrs["min_receivers"] > attrs["max_receivers_count"]:
            raise serializers.ValidationError(
                {"min_receivers": "cannot exceed max_receivers_count"}
            )
        return attrs


class DatasetSerializer(serializers.ModelSerializer):
    created_by = serializers.UUIDField(source="created_by_id", allow_null=True)

    class Meta:
        model = SyntheticDataset
        fields = [
            "id",
            "name",
            "description",
            "dataset_type",
            "status",
            "parameters",
            "num_samples",
            "samples_generated",
            "progress_percent",
            "message",
            "error_message",
            "statistics",
            "artifact_sha256",
            "created_by",
            "created_at",
            "completed_at",
        ]
