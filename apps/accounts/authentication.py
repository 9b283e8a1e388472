"""JWT authentication that loads the user and their role in one query."""

from django.contrib.auth.models import Group
from django.db.models import Case, IntegerField, OuterRef, Subquery, Value, When
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings

from apps.accounts.roles import ROLE_ORDER


def role_subquery():
    """The name of the user's highest role group (a correlated subquery)."""
    rank = Case(
        *[When(name=role.value, then=Value(index)) for index, role in enumerate(ROLE_ORDER)],
        output_field=IntegerField(),
    )
    return Subquery(
        Group.objects.filter(user=OuterRef("pk"), name__in=[r.value for r in ROLE_ORDER])
        .annotate(rank=rank)
        .order_by("rank")
        .values("name")[:1]
    )


class HeimdallJWTAuthentication(JWTAuthentication):
    def get_user(self, validated_token):
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError:
            raise InvalidToken("Token contained no recognizable user identification") from None
        user = (
            self.user_model.objects.filter(**{api_settings.USER_ID_FIELD: user_id})
            .annotate(_heimdall_role_name=role_subquery())
            .first()
        )
        if user is None:
            raise AuthenticationFailed("User not found", code="user_not_found")
        if not api_settings.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        return user
