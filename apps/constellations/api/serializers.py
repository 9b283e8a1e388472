from rest_framework import serializers

from apps.constellations.models import (
    Constellation,
    ConstellationMember,
    ConstellationShare,
    Localization,
    ReferenceTransmitter,
)
from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.fields import (
    JSONBooleanField,
    JSONFloatField,
    JSONIntegerField,
    RefuseUnknownFields,
    json_typed_mapping,
)
from apps.core.text import FreeTextField, NameField


class ConstellationSerializer(serializers.ModelSerializer):
    owner_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = Constellation
        fields = ["id", "name", "description", "owner_id", "created_at", "updated_at"]


class ConstellationListItemSerializer(ConstellationSerializer):
    member_count = serializers.IntegerField()
    permission = serializers.ChoiceField(ConstellationShare.Permission.choices)

    class Meta(ConstellationSerializer.Meta):
        fields = [*ConstellationSerializer.Meta.fields, "member_count", "permission"]


class MemberStationSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    location = serializers.CharField()
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    status = serializers.CharField()


class MemberSerializer(serializers.ModelSerializer):
    constellation_id = serializers.UUIDField()
    websdr_station_id = serializers.CharField(source="station_id")
    added_by = serializers.UUIDField(source="added_by_id", allow_null=True)

    class Meta:
        model = ConstellationMember
        fields = ["id", "constellation_id", "websdr_station_id", "added_at", "added_by"]


class NestedMemberSerializer(MemberSerializer):
    websdr_station = MemberStationSerializer(source="station")

    class Meta(MemberSerializer.Meta):
        fields = ["id", "websdr_station_id", "websdr_station", "added_at", "added_by"]


class ConstellationDetailSerializer(ConstellationSerializer):
    permission = serializers.CharField()
    members = NestedMemberSerializer(many=True, source="member_list")

    class Meta(ConstellationSerializer.Meta):
        fields = [*ConstellationSerializer.Meta.fields, "permission", "members"]


class ConstellationWriteSerializer(RefuseUnknownFields, serializers.Serializer):
    """Shape only; rules (1-255 characters, unique per owner) live in the service."""

    name = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)


class MemberAddSerializer(RefuseUnknownFields, serializers.Serializer):
    websdr_station_id = serializers.CharField()


class UserInfoSerializer(serializers.Serializer):
    email = serializers.CharField(help_text="E-mail address; empty when none is set")
    username = serializers.CharField()
    display_name = serializers.CharField(source="get_display_name")


class ShareSerializer(serializers.ModelSerializer):
    constellation_id = serializers.UUIDField()
    user_id = serializers.UUIDField()
    shared_by = serializers.UUIDField(source="shared_by_id", allow_null=True)

    class Meta:
        model = ConstellationShare
        fields = [
            "id",
            "constellation_id",
            "user_id",
            "permission",
            "shared_by",
            "shared_at",
            "updated_at",
        ]


class ShareWithUserSerializer(ShareSerializer):
    user_info = UserInfoSerializer(source="user")

    class Meta(ShareSerializer.Meta):
        fields = [*ShareSerializer.Meta.fields, "user_info"]


class ShareCreateSerializer(RefuseUnknownFields, serializers.Serializer):
    user_id = serializers.CharField()
    permission = serializers.CharField()


class SharePermissionSerializer(RefuseUnknownFields, serializers.Serializer):
    permission = serializers.CharField()


class ShareListSerializer(serializers.Serializer):
    """Seed 004's share list: every share (no pages) and their count."""

    data = ShareWithUserSerializer(many=True)
    total = serializers.IntegerField()


# --- localizations -------------------------------------------------------------------------


class MeasurementInputSerializer(serializers.Serializer):
    websdr_station_id = serializers.CharField()
    signal_strength_db = serializers.FloatField(help_text="as the station reports it (dBFS/dBm)")
    timestamp = serializers.DateTimeField(required=False)


class LocalizeRequestSerializer(serializers.Serializer):
    """Documentation only: the service validates (400 naming e.g. measurements[2].…)."""

    frequency_hz = serializers.IntegerField(required=False, help_text="with measurements")
    measurements = MeasurementInputSerializer(many=True, required=False)
    detection_ids = serializers.ListField(child=serializers.UUIDField(), required=False)
    method = serializers.ChoiceField(["auto", "model", "wls"], default="auto")
    tx_power_dbm = serializers.FloatField(required=False, allow_null=True)


class EllipseSerializer(serializers.Serializer):
    semi_major_m = serializers.FloatField()
    semi_minor_m = serializers.FloatField()
    orientation_deg = serializers.FloatField(help_text="major axis, clockwise from north")


class UncertaintySerializer(serializers.Serializer):
    cep50_m = serializers.FloatField()
    cep95_m = serializers.FloatField()
    ellipse = EllipseSerializer(help_text="95 %")


class PosteriorSerializer(serializers.Serializer):
    bounds = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()),
        help_text="[[south, west], [north, east]], cell edges",
    )
    shape = serializers.ListField(child=serializers.IntegerField(), help_text="[rows, cols]")
    probabilities = serializers.ListField(
        child=serializers.FloatField(), help_text="row-major, north row first; sums to 1"
    )


class LocalizationSerializer(serializers.Serializer):
    """The shape of apps.constellations.representation.localization_payload."""

    id = serializers.UUIDField()
    constellation_id = serializers.UUIDField()
    frequency_hz = serializers.IntegerField()
    latitude = serializers.FloatField()
    longitude = serializers.FloatField()
    uncertainty = UncertaintySerializer()
    gdop = serializers.FloatField(allow_null=True)
    method = serializers.ChoiceField(Localization.Method.choices)
    model_id = serializers.UUIDField(allow_null=True)
    model_version = serializers.CharField(allow_null=True)
    tx_power_dbm = serializers.FloatField()
    tx_power_estimated = serializers.BooleanField()
    receivers_used = serializers.ListField(child=serializers.CharField())
    residuals_db = serializers.DictField(child=serializers.FloatField())
    warnings = serializers.ListField(child=serializers.CharField())
    detection_ids = serializers.ListField(child=serializers.UUIDField())
    reference_transmitter_id = serializers.UUIDField(allow_null=True)
    trigger = serializers.ChoiceField(Localization.Trigger.choices)
    observed_from = serializers.DateTimeField(allow_null=True)
    observed_until = serializers.DateTimeField(allow_null=True)
    created_by = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()


class LocalizationWithPosteriorSerializer(LocalizationSerializer):
    posterior = PosteriorSerializer(required=False, allow_null=True)


# --- reference transmitters ------------------------------------------------------------------


class ReferenceTransmitterSerializer(RefuseUnknownFields, serializers.ModelSerializer):
    # `active` and any other column the model adds: JSON types, as the fields below.
    serializer_field_mapping = json_typed_mapping(
        serializers.ModelSerializer.serializer_field_mapping
    )
    name = NameField(max_length=255)
    notes = FreeTextField(max_length=5000, required=False)
    latitude = JSONFloatField(min_value=-90, max_value=90)
    longitude = JSONFloatField(min_value=-180, max_value=180)
    frequency_hz = JSONIntegerField(min_value=1, max_value=MAX_FREQUENCY_HZ)
    bandwidth_hz = JSONIntegerField(min_value=1, max_value=10_000_000, required=False)
    tx_power_dbm = JSONFloatField(min_value=-50, max_value=100, required=False, allow_null=True)
    created_by = serializers.UUIDField(source="created_by_id", read_only=True, allow_null=True)

    class Meta:
        model = ReferenceTransmitter
        fields = [
            *("id", "name", "latitude", "longitude", "frequency_hz", "bandwidth_hz"),
            *("tx_power_dbm", "active", "notes", "created_by", "created_at", "updated_at"),
        ]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate(self, attrs):
        import math

        for name in ("latitude", "longitude", "tx_power_dbm"):
            value = attrs.get(name)
            if value is not None and not math.isfinite(value):
                raise serializers.ValidationError({name: "must be a finite number"})
        return attrs


class CalibrateRequestSerializer(RefuseUnknownFields, serializers.Serializer):
    apply = JSONBooleanField(default=False)
    since = serializers.DateTimeField(required=False, allow_null=True)
    min_observations = JSONIntegerField(min_value=1, max_value=100_000, default=3)


class StationOffsetSerializer(serializers.Serializer):
    websdr_station_id = serializers.CharField()
    offset_db = serializers.FloatField()
    standard_error_db = serializers.FloatField()
    observations = serializers.IntegerField()
    previous_offset_db = serializers.FloatField(allow_null=True)
    applied = serializers.BooleanField()


class CalibrateResponseSerializer(serializers.Serializer):
    applied = serializers.BooleanField()
    localizations_used = serializers.IntegerField()
    reference_transmitters = serializers.IntegerField()
    stations = StationOffsetSerializer(many=True)
