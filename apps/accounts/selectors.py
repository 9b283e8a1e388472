from django.contrib.auth import get_user_model
from django.db.models import Q


def user_directory(*, search: str = ""):
    queryset = get_user_model().objects.filter(is_active=True).order_by("username")
    if search:
        queryset = queryset.filter(
            Q(username__icontains=search)
            | Q(display_name__icontains=search)
            | Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
        )
    return queryset.only("id", "username", "display_name", "first_name", "last_name")
