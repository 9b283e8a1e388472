"""Reads for users."""

from django.contrib.auth import get_user_model


def user_directory():
    """Active users by username, with only what a directory entry shows
    (UserDirectoryFilterSet narrows it)."""
    queryset = get_user_model().objects.filter(is_active=True).order_by("username")
    return queryset.only("id", "username", "display_name", "first_name", "last_name")
