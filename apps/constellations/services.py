"""Writes for constellations, their members and shares; object permissions kept in step."""

import math
import uuid

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import IntegrityError, connection, transaction

from apps.accounts.roles import has_permission
from apps.constellations.access import OWNER_ACTIONS, PERMISSIONS_BY_SHARE, codename
from apps.constellations.models import (
    Constellation,
    ConstellationMember,
    ConstellationShare,
    ConstellationUserObjectPermission,
)
from apps.constellations.selectors import forget_references
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


def _still_there(constellation: Constellation) -> None:
    """Lock the constellation's row for this transaction, or NotFound when a concurrent
    request deleted it: an update then re-inserted it (save() inserts a row that is
    gone: a constellation without owner permissions, seen by admins only), and a new
    member, share or permission failed its foreign key at commit (a 500)."""
    if not Constellation.objects.select_for_update().filter(pk=constellation.pk).exists():
        raise NotFound("No such constellation.")


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
    _still_there(constellation)
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
    _still_there(constellation)
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
    try:
        with transaction.atomic():
            member = ConstellationMember.objects.create(
                constellation=constellation, station=station, added_by=added_by
            )
    except IntegrityError:  # a concurrent add of the same station won the race
        raise Conflict(
            f"Station '{station_id}' is already a member.", {"field": "websdr_station_id"}
        ) from None
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
    _still_there(constellation)
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
    try:
        with transaction.atomic():
            share = ConstellationShare.objects.create(
                constellation=constellation, user=user, permission=permission,
                shared_by=shared_by,
            )  # fmt: skip
    except IntegrityError:  # a concurrent share with the same user won the race
        raise Conflict(
            "The constellation is already shared with this user.", {"field": "user_id"}
        ) from None
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
    _still_there(constellation)
    share = _share_of(constellation, user_id)
    share.permission = _clean_permission(permission, share.user)
    share.save(update_fields=["permission", "updated_at"])
    _grant(constellation, share.user, PERMISSIONS_BY_SHARE[share.permission])
    recheck_sockets(user_ids=[share.user_id])
    return share


@transaction.atomic
def share_revoke(*, constellation: Constellation, user_id) -> None:
    _still_there(constellation)
    share = _share_of(constellation, user_id)
    _grant(constellation, share.user, ())
    share.delete()
    recheck_sockets(user_ids=[share.user_id])  # their open sockets lose it at once


# --- localizations ------------------------------------------------------------------------


def build_localization(*, constellation_id, request, result, trigger: str, created_by=None,
                       reference=None):  # fmt: skip
    """The (unsaved) Localization of a request's measurements and their fix."""
    from apps.constellations.models import Localization

    return Localization(
        constellation_id=constellation_id,
        frequency_hz=request.frequency_hz,
        latitude=result.latitude,
        longitude=result.longitude,
        cep50_m=round(result.uncertainty.cep50_m, 1),
        cep95_m=round(result.uncertainty.cep95_m, 1),
        ellipse_semi_major_m=round(result.uncertainty.semi_major_m, 1),
        ellipse_semi_minor_m=round(result.uncertainty.semi_minor_m, 1),
        ellipse_orientation_deg=round(result.uncertainty.orientation_deg, 1),
        gdop=result.gdop,
        method=result.method,
        model_id=result.model_id,
        model_version=result.model_version,
        tx_power_dbm=result.tx_power_dbm,
        tx_power_estimated=result.tx_power_estimated,
        receivers_used=[m.station_id for m in request.measurements],
        residuals_db=result.residuals_db,
        measurements=[m.as_dict() for m in request.measurements],
        warnings=result.warnings,
        detection_ids=request.detection_ids,
        trigger=trigger,
        reference_transmitter_id=reference,
        observed_from=request.observed_from,
        observed_until=request.observed_until,
        created_by=created_by,
    )


def localization_request(*, constellation: Constellation, user, data) -> "Localization":  # noqa: F821
    """POST /constellations/{id}/localize: validate (400 naming the field, nothing
    stored), locate (docs/localization.md), store, publish to the live feed after commit."""
    from apps.constellations.live import publish_localizations
    from apps.constellations.locate import locate
    from apps.constellations.selectors import member_stations, reference_for
    from apps.constellations.validation import clean_localize_request

    request = clean_localize_request(data, members=member_stations(constellation=constellation))
    result = locate(request.measurements, frequency_hz=request.frequency_hz,
                    method=request.method, tx_power_dbm=request.tx_power_dbm)  # fmt: skip
    localization = build_localization(
        constellation_id=constellation.pk, request=request, result=result, trigger="request",
        created_by=user, reference=reference_for(request.frequency_hz),
    )  # fmt: skip
    try:
        with transaction.atomic():
            localizations_insert([localization])
            publish_localizations([localization])  # after the commit
    except IntegrityError:
        # Deleted by another request while this one was being located: the 404 any
        # request for it gets now (was a 500 from the foreign key, nothing stored).
        if not Constellation.objects.filter(pk=constellation.pk).exists():
            raise NotFound("No such constellation.") from None
        raise
    return localization


def localizations_insert(localizations: list) -> None:
    """Store new localizations with their foreign keys checked now, in a savepoint.

    Their reference transmitter comes from a per-process cache (selectors.reference_for,
    up to REFERENCES_TTL_S old): one deleted meanwhile (by another process) made the
    insert fail at commit, a 500 for a request and a lost batch for an automatic task.
    Such a fix is stored after looking the references up again (unlinked, or linked to
    another active reference on its frequency). Any other violation (the constellation
    deleted) is raised."""
    from apps.constellations.models import Localization
    from apps.constellations.selectors import reference_for

    if not localizations:
        return
    try:
        with transaction.atomic():
            Localization.objects.bulk_create(localizations)
            connection.check_constraints()  # the deferred foreign-key checks, here
        return
    except IntegrityError:
        if not any(item.reference_transmitter_id for item in localizations):
            raise
    forget_references()
    for item in localizations:
        if item.reference_transmitter_id is not None:
            item.reference_transmitter_id = reference_for(item.frequency_hz)
    with transaction.atomic():
        Localization.objects.bulk_create(localizations)
        connection.check_constraints()


# --- reference transmitters and calibration -----------------------------------------------

REFERENCE_FIELDS = ("name", "latitude", "longitude", "frequency_hz", "bandwidth_hz",
                    "tx_power_dbm", "active", "notes")  # fmt: skip


def _clean_reference_texts(fields: dict) -> dict:
    """Name and notes normalised as every name and free text (apps.core.text)."""
    if "name" in fields:
        fields["name"] = _clean_name(fields["name"])
    if "notes" in fields:
        fields["notes"] = clean_text(fields["notes"], field="notes", max_length=5000,
                                     required=False, multiline=True)  # fmt: skip
    return fields


@transaction.atomic
def reference_transmitter_create(*, created_by, **fields):
    from apps.constellations.models import ReferenceTransmitter

    fields = _clean_reference_texts(dict(fields))

    if ReferenceTransmitter.objects.filter(name=fields["name"]).exists():
        raise Conflict(f"A reference transmitter named '{fields['name']}' exists.",
                       {"field": "name"})  # fmt: skip
    try:
        with transaction.atomic():
            reference = ReferenceTransmitter.objects.create(
                created_by=created_by,
                **{k: v for k, v in fields.items() if k in REFERENCE_FIELDS},
            )
    except IntegrityError:  # a concurrent create with the same name won the race
        raise Conflict(f"A reference transmitter named '{fields['name']}' exists.",
                       {"field": "name"}) from None  # fmt: skip
    forget_references()
    transaction.on_commit(forget_references)
    return reference


@transaction.atomic
def reference_transmitter_update(*, reference, **fields):
    from apps.constellations.models import ReferenceTransmitter

    fields = _clean_reference_texts(dict(fields))
    # Locked, and still there: one deleted by a concurrent request made save() raise a bare
    # DatabaseError ("did not affect any rows"), a 500.
    if not ReferenceTransmitter.objects.select_for_update().filter(pk=reference.pk).exists():
        raise NotFound("No such reference transmitter.")
    name = fields.get("name")
    if name and ReferenceTransmitter.objects.filter(name=name).exclude(pk=reference.pk).exists():
        raise Conflict(f"A reference transmitter named '{name}' exists.", {"field": "name"})
    changed = [k for k in REFERENCE_FIELDS if k in fields]
    for key in changed:
        setattr(reference, key, fields[key])
    try:
        with transaction.atomic():
            reference.save(update_fields=[*changed, "updated_at"])
    except IntegrityError:  # a concurrent write took the name
        raise Conflict(f"A reference transmitter named '{name}' exists.",
                       {"field": "name"}) from None  # fmt: skip
    forget_references()
    transaction.on_commit(forget_references)
    return reference


def reference_transmitter_delete(*, reference) -> None:
    reference.delete()  # its localizations stay, no longer linked
    forget_references()


OFFSET_LIMIT_DB = 100.0  # |calibration_offset_db| a station accepts (apps/stations)


def calibration_estimate(*, since=None, apply: bool = False, min_observations: int = 3) -> dict:
    """Per-station calibration offsets from the stored localizations of reference
    transmitters (their reported strengths, the references' known positions and, where
    known, powers): apps.radio.localization.estimate_offsets. With `apply`, stations with
    at least `min_observations` get the estimate as their calibration_offset_db."""
    import numpy as np

    from apps.constellations.models import Localization, ReferenceTransmitter
    from apps.radio.localization import ReferenceObservation, estimate_offsets
    from apps.radio.propagation import to_local_metres
    from apps.stations.models import Station
    from apps.stations.services import station_calibrations_set

    references = {r.pk: r for r in ReferenceTransmitter.objects.filter(active=True)}
    fixes = Localization.objects.filter(reference_transmitter_id__in=list(references))
    if since is not None:
        fixes = fixes.filter(created_at__gte=since)
    observations, used = [], set()
    for reference_id, frequency, measurements in fixes.values_list(
        "reference_transmitter_id", "frequency_hz", "measurements"
    ).iterator():
        reference = references[reference_id]
        used.add(reference_id)
        lat = np.array([m["latitude"] for m in measurements])
        lon = np.array([m["longitude"] for m in measurements])
        observations.append(ReferenceObservation(
            position=np.zeros(2), tx_power_dbm=reference.tx_power_dbm,
            stations=tuple(m["websdr_station_id"] for m in measurements),
            receivers=to_local_metres(lat, lon, reference.latitude, reference.longitude),
            reported_dbm=np.array([m["signal_strength_db"] for m in measurements], float),
            frequency_mhz=frequency / 1e6,
        ))  # fmt: skip
    estimates = estimate_offsets(observations) if observations else {}
    previous = dict(
        Station.objects.filter(pk__in=list(estimates)).values_list("id", "calibration_offset_db")
    )
    # An estimate outside the range a station's offset may take (what PATCH /stations and
    # the admin form accept) is reported, never applied: it says the reference's power or
    # position is wrong, or the station did not hear it, and writing it would store a value
    # the station's own API refuses.
    chosen = {
        station: round(estimate.offset_db, 2)
        for station, estimate in estimates.items()
        if station in previous
        and estimate.observations >= min_observations
        and math.isfinite(estimate.offset_db)
        and abs(round(estimate.offset_db, 2)) <= OFFSET_LIMIT_DB
    }
    if apply and chosen:
        station_calibrations_set(offsets=chosen)
    return {
        "applied": bool(apply and chosen),
        "localizations_used": len(observations),
        "reference_transmitters": len(used),
        "stations": [
            {
                "websdr_station_id": station,
                "offset_db": round(estimate.offset_db, 2),
                "standard_error_db": round(estimate.standard_error_db, 2),
                "observations": estimate.observations,
                "previous_offset_db": previous.get(station),
                "applied": bool(apply and station in chosen),
            }
            for station, estimate in sorted(estimates.items())
        ],
    }
