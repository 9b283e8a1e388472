"""Writes for constellations, their members and shares; object permissions kept in step."""

import uuid

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import IntegrityError, transaction

from apps.accounts.roles import has_permission
from apps.constellations.access import OWNER_ACTIONS, PERMISSIONS_BY_SHARE, codename
from apps.constellations.models import (
    Constellation,
    ConstellationMember,
    ConstellationShare,
    ConstellationUserObjectPermission,
)
from apps.core.consumers import recheck_sockets
from apps.core.exceptions import Conflict, NotFound, ValidationFailed
from apps.core.text import clean_text
from apps.stations.models import Station


def _clean_name(name) -> str:
    """NFC, trimmed, at least one visible character, 1-255 characters (apps.core.text)."""
    if name is None:
        raise ValidationFailed.for_field("name", "is required")
    return clean_text(name, field="name", max_length=255)


def _clean_description(description) -> str:
    return clean_text(
        description, field="description", max_length=5000, required=False, multiline=True
    )


def _grant(constellation: Constellation, user, actions) -> None:
    """Make `user`'s object permissions on the constellation exactly `actions`."""
    ConstellationUserObjectPermission.objects.filter(
        content_object=constellation, user=user
    ).delete()
    permissions = Permission.objects.filter(
        content_type__app_label="constellations",
        codename__in=[codename(action) for action in actions],
    )
    ConstellationUserObjectPermission.objects.bulk_create(
        ConstellationUserObjectPermission(content_object=constellation, user=user, permission=p)
        for p in permissions
    )


def _name_taken(owner, name: str, exclude=None) -> bool:
    queryset = Constellation.objects.filter(owner=owner, name=name)
    if exclude is not None:
        queryset = queryset.exclude(pk=exclude.pk)
    return queryset.exists()


@transaction.atomic
def constellation_create(*, owner, name, description="") -> Constellation:
    name = _clean_name(name)
    description = _clean_description(description)
    if _name_taken(owner, name):
        raise Conflict(f"You already have a constellation named '{name}'.", {"field": "name"})
    try:
        with transaction.atomic():
            constellation = Constellation.objects.create(
                owner=owner, name=name, description=description
            )
    except IntegrityError:  # a concurrent create won the race for the name
        raise Conflict(
            f"You already have a constellation named '{name}'.", {"field": "name"}
        ) from None
    _grant(constellation, owner, OWNER_ACTIONS)
    return constellation


@transaction.atomic
def constellation_update(*, constellation: Constellation, **fields) -> Constellation:
    if "name" in fields:
        name = _clean_name(fields["name"])
        if _name_taken(constellation.owner, name, exclude=constellation):
            raise Conflict(
                f"The owner already has a constellation named '{name}'.", {"field": "name"}
            )
        constellation.name = name
    if "description" in fields:
        constellation.description = _clean_description(fields["description"])
    constellation.save()
    return constellation


@transaction.atomic
def constellation_delete(*, constellation: Constellation) -> None:
    """Members, shares and object permissions go with it (foreign-key cascades)."""
    shared_with = list(constellation.shares.values_list("user_id", flat=True))
    constellation.delete()
    # Open sockets that watch it re-check their access (apps.core.consumers).
    recheck_sockets(user_ids=[constellation.owner_id, *shared_with])


@transaction.atomic
def member_add(*, constellation: Constellation, station_id, added_by) -> ConstellationMember:
    if not isinstance(station_id, str) or not station_id:
        raise ValidationFailed.for_field("websdr_station_id", "is required")
    station = Station.objects.filter(pk=station_id).first()
    if station is None:
        raise ValidationFailed.for_field(
            "websdr_station_id", f"unknown station '{station_id}'", station_id
        )
    if ConstellationMember.objects.filter(constellation=constellation, station=station).exists():
        raise Conflict(
            f"Station '{station_id}' is already a member.", {"field": "websdr_station_id"}
        )
    member = ConstellationMember.objects.create(
        constellation=constellation, station=station, added_by=added_by
    )
    Constellation.objects.filter(pk=constellation.pk).update(updated_at=member.added_at)
    return member


@transaction.atomic
def member_remove(*, constellation: Constellation, station_id: str) -> None:
    deleted, _ = ConstellationMember.objects.filter(
        constellation=constellation, station_id=station_id
    ).delete()
    if not deleted:
        raise NotFound(f"Station '{station_id}' is not a member of this constellation.")


def _share_target(user_id):
    try:
        key = uuid.UUID(str(user_id))
    except ValueError:
        raise ValidationFailed.for_field("user_id", "must be a user id (UUID)", user_id) from None
    user = get_user_model().objects.filter(pk=key, is_active=True).first()
    if user is None:
        raise ValidationFailed.for_field("user_id", f"unknown user '{user_id}'", str(user_id))
    return user


def _clean_permission(permission, user) -> str:
    if permission not in PERMISSIONS_BY_SHARE:
        raise ValidationFailed.for_field("permission", "must be 'read' or 'edit'", permission)
    if permission == "edit" and not has_permission(user, "constellations:write"):
        raise ValidationFailed.for_field(
            "permission", "this user's role is read-only: share with 'read'", permission
        )
    return permission


@transaction.atomic
def share_create(
    *, constellation: Constellation, user_id, permission, shared_by
) -> ConstellationShare:
    user = _share_target(user_id)
    if user.pk == constellation.owner_id:
        raise ValidationFailed.for_field(
            "user_id", "the owner already has full access", str(user_id)
        )
    if user.pk == shared_by.pk:
        raise ValidationFailed.for_field("user_id", "you cannot share with yourself", str(user_id))
    permission = _clean_permission(permission, user)
    if ConstellationShare.objects.filter(constellation=constellation, user=user).exists():
        raise Conflict("The constellation is already shared with this user.", {"field": "user_id"})
    share = ConstellationShare.objects.create(
        constellation=constellation, user=user, permission=permission, shared_by=shared_by
    )
    _grant(constellation, user, PERMISSIONS_BY_SHARE[permission])
    return share


def _share_of(constellation, user_id) -> ConstellationShare:
    try:
        key = uuid.UUID(str(user_id))
    except ValueError:
        raise NotFound("No share for that user.") from None
    share = ConstellationShare.objects.filter(constellation=constellation, user_id=key).first()
    if share is None:
        raise NotFound("No share for that user.")
    return share


@transaction.atomic
def share_update(*, constellation: Constellation, user_id, permission) -> ConstellationShare:
    share = _share_of(constellation, user_id)
    share.permission = _clean_permission(permission, share.user)
    share.save(update_fields=["permission", "updated_at"])
    _grant(constellation, share.user, PERMISSIONS_BY_SHARE[share.permission])
    recheck_sockets(user_ids=[share.user_id])
    return share


@transaction.atomic
def share_revoke(*, constellation: Constellation, user_id) -> None:
    share = _share_of(constellation, user_id)
    _grant(constellation, share.user, ())
    share.delete()
    recheck_sockets(user_ids=[share.user_id])  # their open sockets lose it at once
