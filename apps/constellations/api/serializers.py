from rest_framework import serializers

from apps.constellations.models import Constellation, ConstellationMember, ConstellationShare


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


class ConstellationWriteSerializer(serializers.Serializer):
    """Shape only; rules (1-255 characters, unique per owner) live in the service."""

    name = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    description = serializers.CharField(required=False, allow_blank=True, allow_null=True)


class MemberAddSerializer(serializers.Serializer):
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


class ShareCreateSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    permission = serializers.CharField()


class SharePermissionSerializer(serializers.Serializer):
    permission = serializers.CharField()


class ShareListSerializer(serializers.Serializer):
    """Seed 004's share list: every share (no pages) and their count."""

    data = ShareWithUserSerializer(many=True)
    total = serializers.IntegerField()
