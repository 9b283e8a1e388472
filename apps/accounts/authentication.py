"""JWT authentication that loads the user and their role in one query.

The query runs on every API request, so it is written once as SQL rather than
compiled by the ORM each time: compiling the role subquery (a CASE over the
role names) cost ~3 ms per request, the query itself ~0.1 ms
(docs/performance.md). It is plain SQL that PostgreSQL and SQLite both run.
"""

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings

from apps.accounts.roles import ROLE_ORDER


@cache
def user_with_role_sql() -> str:
    """SELECT of one user by primary key with `_heimdall_role_name`, their highest role."""
    user_model = get_user_model()
    memberships = user_model.groups.through._meta.db_table
    groups = Group._meta.db_table
    rank = " ".join(f"WHEN '{role.value}' THEN {index}" for index, role in enumerate(ROLE_ORDER))
    names = ", ".join(f"'{role.value}'" for role in ROLE_ORDER)
    return (
        # Only table names and role constants are interpolated; the id is a parameter.
        f"SELECT u.*, (SELECT g.name FROM {groups} g "  # noqa: S608
        f"JOIN {memberships} m ON m.group_id = g.id "
        f"WHERE m.user_id = u.id AND g.name IN ({names}) "
        f"ORDER BY CASE g.name {rank} END LIMIT 1) AS _heimdall_role_name "
        f"FROM {user_model._meta.db_table} u WHERE u.id = %s"
    )


class HeimdallJWTAuthentication(JWTAuthentication):
    def authenticate(self, request):
        header = self.get_header(request)
        raw_token = self.get_raw_token(header) if header is not None else None
        if raw_token is None:
            return None
        # RateLimitMiddleware has usually validated this very token already.
        decoded = getattr(request._request, "validated_jwt", None)
        if decoded is not None and decoded[0] == raw_token:
            validated_token = decoded[1]
        else:
            validated_token = self.get_validated_token(raw_token)
        return self.get_user(validated_token), validated_token

    def get_user(self, validated_token):
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError:
            raise InvalidToken("Token contained no recognizable user identification") from None
        pk_field = self.user_model._meta.pk
        try:
            pk = pk_field.get_db_prep_value(pk_field.to_python(user_id), connection)
        except ValidationError:
            raise AuthenticationFailed("User not found", code="user_not_found") from None
        found = list(self.user_model.objects.raw(user_with_role_sql(), [pk]))
        if not found:
            raise AuthenticationFailed("User not found", code="user_not_found")
        user = found[0]
        if not api_settings.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        return user
