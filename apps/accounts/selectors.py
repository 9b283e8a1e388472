"""Reads for users."""

from django.contrib.auth import get_user_model

from apps.accounts.roles import Role, role_of


def user_directory():
    """Active users by username, with only what a directory entry shows
    (UserDirectoryFilterSet narrows it)."""
    queryset = get_user_model().objects.filter(is_active=True).order_by("username")
    return queryset.only("id", "username", "display_name", "first_name", "last_name")


def api_keys_visible_to(user):
    """Unrevoked API keys: the user's own; an admin's view holds everyone's."""
    from apps.accounts.models import ApiKey

    keys = ApiKey.objects.filter(revoked_at__isnull=True).select_related("user")
    if role_of(user) != Role.ADMIN:
        keys = keys.filter(user_id=user.pk)
    return keys.order_by("-created_at", "id")
