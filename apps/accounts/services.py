"""Writes for users, roles and API keys."""

import unicodedata
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from apps.accounts.api_keys import DISPLAY_PREFIX_LENGTH, key_generate, key_hash, role_within
from apps.accounts.roles import Role, role_of
from apps.core.consumers import recheck_sockets
from apps.core.exceptions import Conflict, NotFound, ValidationFailed
from apps.core.timeutil import utc_now


@transaction.atomic
def user_create(
    *,
    username: str,
    password: str,
    role: Role | str,
    email: str = "",
    display_name: str = "",
    validate: bool = True,
):
    """Create a user in exactly one role group. Validates the password unless told not to."""
    user_model = get_user_model()
    try:
        role = Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ValidationFailed.for_field("role", f"must be one of {allowed}", role) from None
    if not username or len(username) > 150:
        raise ValidationFailed.for_field("username", "must be 1-150 characters")
    if user_model.objects.filter(username=username).exists():
        raise Conflict(f"User '{username}' already exists.", {"field": "username"})
    user = user_model(username=username, email=email, display_name=display_name)
    if validate:
        try:
            validate_password(password, user)
        except DjangoValidationError as exc:
            raise ValidationFailed.for_field("password", " ".join(exc.messages)) from None
    user.set_password(password)
    user.is_staff = role == Role.ADMIN  # admins may use Django admin
    user.is_superuser = False
    try:
        with transaction.atomic():  # the unique index decides between concurrent creators
            user.save()
    except IntegrityError:
        raise Conflict(f"User '{username}' already exists.", {"field": "username"}) from None
    user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    return user


@transaction.atomic
def user_set_role(*, user, role: Role | str) -> None:
    role = Role(role)
    role_names = [r.value for r in Role]
    user.groups.remove(*Group.objects.filter(name__in=role_names))
    user.groups.add(Group.objects.get_or_create(name=role.value)[0])
    user.is_staff = role == Role.ADMIN or user.is_superuser
    user.save(update_fields=["is_staff"])
    user.__dict__.pop("_heimdall_role", None)
    recheck_sockets(user_ids=[user.pk])  # open sockets re-check the new role at once


# --- API keys -------------------------------------------------------------------------


def _clean_name(name) -> str:
    if not isinstance(name, str):
        raise ValidationFailed.for_field("name", "must be a string")
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not any(ch.isprintable() and not ch.isspace() and unicodedata.category(ch)[0] != "C"
               for ch in cleaned):  # fmt: skip
        raise ValidationFailed.for_field("name", "must contain a visible character")
    if len(cleaned) > 100:
        raise ValidationFailed.for_field("name", "must be at most 100 characters")
    return cleaned


def api_key_create(
    *, user, name: str, role: Role | str | None = None, expires_at: datetime | None = None
) -> tuple[object, str]:
    """Mint a key for `user`: (the ApiKey row, the key itself — shown once, never stored).

    `role` defaults to the user's own and may not exceed it (400 naming
    `role`); `expires_at` must be in the future. A user's unrevoked keys have
    distinct names (409 naming `name`) and number at most
    HEIMDALL_API_KEYS_PER_USER (409). Creations by one user are serialized
    on their user row, so concurrent requests cannot pass either check together.
    """
    from apps.accounts.models import ApiKey

    name = _clean_name(name)
    limit = role_of(user)
    if role is None:
        role = limit
    try:
        role = Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise ValidationFailed.for_field("role", f"must be one of {allowed}", role) from None
    if not role_within(role, limit):
        raise ValidationFailed.for_field(
            "role", f"may not exceed your own role ({limit.value if limit else 'none'})", role
        )
    if expires_at is not None and expires_at <= utc_now():
        raise ValidationFailed.for_field("expires_at", "must be in the future")
    raw = key_generate()
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        active = ApiKey.objects.filter(user_id=user.pk, revoked_at__isnull=True)
        if active.filter(name=name).exists():
            raise Conflict(f"You already have an API key named '{name}'.", {"field": "name"})
        if active.count() >= settings.HEIMDALL_API_KEYS_PER_USER:
            raise Conflict(
                f"At most {settings.HEIMDALL_API_KEYS_PER_USER} API keys per user: "
                "revoke one first.",
                {"field": "name", "constraint": "too many keys"},
            )
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    user_id=user.pk,
                    name=name,
                    role=role.value,
                    prefix=raw[:DISPLAY_PREFIX_LENGTH],
                    key_hash=key_hash(raw),
                    expires_at=expires_at,
                )
        except IntegrityError:  # the partial unique index, should the row lock be bypassed
            raise Conflict(
                f"You already have an API key named '{name}'.", {"field": "name"}
            ) from None
    return key, raw


def api_key_revoke(*, key_id, by) -> None:
    """Revoke a key: its owner's or, for admins, anyone's. Effective at once: requests with
    it are 401 from the commit on, and its open sockets close with 4401.

    Atomic: of concurrent revocations of one key exactly one succeeds, the
    others (and any later one) are 404 — as for a key that is not yours.
    """
    from apps.accounts.models import ApiKey

    keys = ApiKey.objects.filter(pk=key_id, revoked_at__isnull=True)
    if role_of(by) != Role.ADMIN:
        keys = keys.filter(user_id=by.pk)
    with transaction.atomic():
        if keys.update(revoked_at=utc_now()) != 1:
            raise NotFound("No such API key.")
        recheck_sockets(api_key_ids=[key_id])
