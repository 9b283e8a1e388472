from rest_framework import serializers

from apps.core.fields import RefuseUnknownFields


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=254, help_text="Username or e-mail address.")
    password = serializers.CharField(max_length=4096, trim_whitespace=False, write_only=True)


class RefreshSerializer(serializers.Serializer):
    refresh_token = serializers.CharField(max_length=4096)


class TokenSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    refresh_token = serializers.CharField()
    permissions = serializers.ListField(child=serializers.CharField())
    role = serializers.CharField(allow_null=True)
    user_id = serializers.UUIDField()


class UserSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    email = serializers.CharField(help_text="E-mail address; empty when none is set")
    display_name = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    permissions = serializers.ListField(child=serializers.CharField())


class DirectoryEntrySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    username = serializers.CharField()
    display_name = serializers.CharField(source="get_display_name")


class ApiKeyCreateSerializer(RefuseUnknownFields, serializers.Serializer):
    name = serializers.CharField(max_length=200, trim_whitespace=False)
    role = serializers.CharField(
        max_length=32, required=False, help_text="At most your own role (default: yours)."
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class ApiKeySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    role = serializers.CharField()
    prefix = serializers.CharField(help_text="The key's first characters.")
    user_id = serializers.UUIDField()
    username = serializers.CharField(source="user.username")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(
        allow_null=True, help_text="To the minute: written at most once a minute per key."
    )


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The key itself: shown this once, never again.")
