"""Writes for users and roles."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from apps.accounts.roles import Role
from apps.core.exceptions import Conflict, ValidationFailed
from apps.core.text import clean_text


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
    if not isinstance(username, str):
        raise ValidationFailed.for_field("username", "must be a string")
    # Django's own normalisation (NFKC) and rule (letters, digits and @.+-_).
    username = user_model.normalize_username(username.strip())
    if not username or len(username) > 150:
        raise ValidationFailed.for_field("username", "must be 1-150 characters")
    try:
        user_model.username_validator(username)
    except DjangoValidationError as exc:
        raise ValidationFailed.for_field("username", " ".join(exc.messages)) from None
    display_name = clean_text(display_name, field="display_name", max_length=255, required=False)
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
    user.save()
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
