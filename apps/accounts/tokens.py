"""Issuing and rotating JWTs (simplejwt), in seed 004's response shape."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from apps.accounts.roles import permissions_of, role_of
from apps.core.exceptions import HeimdallError


class InvalidCredentials(HeimdallError):
    status_code = 401
    code = "INVALID_CREDENTIALS"
    default_message = "Invalid username or password."


class InvalidRefreshToken(HeimdallError):
    status_code = 401
    code = "INVALID_TOKEN"
    default_message = "The refresh token is invalid, expired or already used."


def token_response(user, refresh: RefreshToken) -> dict:
    return {
        "access_token": str(refresh.access_token),
        "token_type": "bearer",
        "expires_in": int(jwt_settings.ACCESS_TOKEN_LIFETIME.total_seconds()),
        "refresh_token": str(refresh),
        "permissions": permissions_of(user),
        "role": role_of(user),
        "user_id": str(user.pk),
    }


def tokens_issue(*, user) -> dict:
    return token_response(user, RefreshToken.for_user(user))


def tokens_refresh(*, refresh_token: str) -> dict:
    """Rotate: the used refresh token is consumed and a new pair returned.

    Consumption is atomic: the blacklist row (one per outstanding token, a
    unique key) is inserted in the same transaction that issues the new pair.
    Of concurrent requests with one token, the first insert wins; the others
    wait on the unique index until it commits, then fail and answer 401
    INVALID_TOKEN. (simplejwt's own `blacklist()` is a get_or_create, which
    lets every concurrent request through.)
    """
    try:
        old = RefreshToken(refresh_token)  # verifies signature, expiry and blacklist
    except TokenError as exc:
        raise InvalidRefreshToken() from exc
    user_id = old.payload.get(settings.SIMPLE_JWT["USER_ID_CLAIM"])
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None or role_of(user) is None:
        raise InvalidRefreshToken("The account behind this token is gone or disabled.")
    jti = old.payload[jwt_settings.JTI_CLAIM]
    with transaction.atomic():
        outstanding, _ = OutstandingToken.objects.get_or_create(
            jti=jti,
            defaults={
                "user": user,
                "token": str(old),
                "created_at": old.current_time,
                "expires_at": datetime_from_epoch(old["exp"]),
            },
        )
        try:
            with transaction.atomic():
                BlacklistedToken.objects.create(token=outstanding)
        except IntegrityError:
            raise InvalidRefreshToken() from None
        return tokens_issue(user=user)
