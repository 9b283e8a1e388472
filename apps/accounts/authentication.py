"""JWT authentication that loads the user and their role in one query.

The query runs on every API request, so it is written once as SQL rather than
compiled by the ORM each time: compiling the role subquery (a CASE over the
role names) cost ~3 ms per request, the query itself ~0.1 ms
(docs/performance.md). It is plain SQL that PostgreSQL and SQLite both run.
"""

from datetime import timedelta
from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q
from rest_framework.authentication import BaseAuthentication
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings

from apps.accounts.api_keys import (
    API_KEY_PREFIX,
    LAST_USED_RESOLUTION,
    ApiKeyAuth,
    acting_user,
    key_hash,
    looks_like_key,
    role_within,
)
from apps.accounts.roles import ROLE_ORDER, Role, role_of
from apps.core.timeutil import utc_now


def _role_subquery() -> str:
    """SQL for the highest role of the user `u` (a column expression)."""
    user_model = get_user_model()
    memberships = user_model.groups.through._meta.db_table
    groups = Group._meta.db_table
    rank = " ".join(f"WHEN '{role.value}' THEN {index}" for index, role in enumerate(ROLE_ORDER))
    names = ", ".join(f"'{role.value}'" for role in ROLE_ORDER)
    # Only table names and role constants are interpolated.
    return (
        f"(SELECT g.name FROM {groups} g "  # noqa: S608
        f"JOIN {memberships} m ON m.group_id = g.id "
        f"WHERE m.user_id = u.id AND g.name IN ({names}) "
        f"ORDER BY CASE g.name {rank} END LIMIT 1)"
    )


@cache
def user_with_role_sql() -> str:
    """SELECT of one user by primary key with `_heimdall_role_name`, their highest role."""
    table = get_user_model()._meta.db_table
    # Only table names and role constants are interpolated; the id is a parameter.
    return f"SELECT u.*, {_role_subquery()} AS _heimdall_role_name FROM {table} u WHERE u.id = %s"  # noqa: S608


class HeimdallJWTAuthentication(JWTAuthentication):
    def authenticate(self, request):
        header = self.get_header(request)
        raw_token = self.get_raw_token(header) if header is not None else None
        if raw_token is None or raw_token.startswith(API_KEY_PREFIX.encode()):
            return None  # an API key: ApiKeyAuthentication's
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


# --- API keys -----------------------------------------------------------------------


@cache
def api_key_user_sql() -> str:
    """The key's creator with their role and the key's columns (`_key_*`), by key hash."""
    from apps.accounts.models import ApiKey

    users = get_user_model()._meta.db_table
    keys = ApiKey._meta.db_table
    # Only table names and role constants are interpolated; the hash is a parameter.
    return (
        f"SELECT u.*, {_role_subquery()} AS _heimdall_role_name, "  # noqa: S608
        "k.id AS _key_id, k.name AS _key_name, k.role AS _key_role, "
        "k.expires_at AS _key_expires_at, k.last_used_at AS _key_last_used_at, "
        "k.revoked_at AS _key_revoked_at "
        f"FROM {keys} k JOIN {users} u ON u.id = k.user_id WHERE k.key_hash = %s"
    )


def api_key_authenticate(raw: str) -> tuple[object, ApiKeyAuth] | None:
    """(the user acting through the key, the key) or None: unknown, revoked, expired, its
    creator inactive, or the key's role no longer within its creator's. One query; and
    at most one UPDATE of `last_used_at` per key per LAST_USED_RESOLUTION seconds."""
    if not looks_like_key(raw):
        return None
    found = list(get_user_model().objects.raw(api_key_user_sql(), [key_hash(raw)]))
    if not found:
        return None
    user = found[0]
    now = utc_now()
    if user._key_revoked_at is not None or not user.is_active:
        return None
    if user._key_expires_at is not None and user._key_expires_at <= now:
        return None
    try:
        key_role = Role(user._key_role)
    except ValueError:
        return None
    if not role_within(key_role, role_of(user)):
        return None
    last_used = user._key_last_used_at
    if last_used is None or (now - last_used).total_seconds() >= LAST_USED_RESOLUTION:
        _touch(user._key_id, now)
    auth = ApiKeyAuth(
        key_id=str(user._key_id),
        name=user._key_name,
        role=key_role,
        expires_at=user._key_expires_at,
    )
    return acting_user(user, key_role), auth


def _touch(key_id, now) -> None:
    from apps.accounts.models import ApiKey

    stale = now - timedelta(seconds=LAST_USED_RESOLUTION)
    # Conditional: of many requests racing past the check above, one writes.
    ApiKey.objects.filter(pk=key_id).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale)
    ).update(last_used_at=now)


REQUEST_KEY_ATTR = "heimdall_api_key"


def api_key_from_request(django_request) -> str | None:
    """The API key a request carries: `Authorization: Bearer hmd_...` or `X-API-Key`."""
    header = django_request.META.get("HTTP_AUTHORIZATION", "")
    parts = header.split()
    if len(parts) == 2 and parts[0] == "Bearer" and looks_like_key(parts[1]):
        return parts[1]
    raw = django_request.META.get("HTTP_X_API_KEY")
    if raw:
        return raw.strip()
    return None


def api_key_for_request(django_request):
    """`api_key_authenticate` of the request's key, once per request (the rate limiter asks
    first, the view's authentication reuses the answer). None: no key sent."""
    raw = api_key_from_request(django_request)
    if raw is None:
        return None
    cached = getattr(django_request, REQUEST_KEY_ATTR, None)
    if cached is not None and cached[0] == raw:
        return cached
    result = (raw, api_key_authenticate(raw))
    setattr(django_request, REQUEST_KEY_ATTR, result)
    return result


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer hmd_...` or `X-API-Key: hmd_...` (seed 004's SDKs take an api_key)."""

    www_authenticate_realm = "api"

    def authenticate(self, request):
        found = api_key_for_request(request._request)
        if found is None:
            return None
        _, result = found
        if result is None:
            raise AuthenticationFailed("The API key is invalid, expired or revoked.")
        return result

    def authenticate_header(self, request):
        return f'Bearer realm="{self.www_authenticate_realm}"'
