"""Reads for constellations."""

from django.db.models import Case, CharField, Count, OuterRef, Subquery, Value, When
from django.db.models.functions import Coalesce

from apps.accounts.roles import has_permission
from apps.constellations.access import count_visible, is_admin, restrict
from apps.constellations.models import Constellation, ConstellationMember, ConstellationShare

ORDER = ("-created_at", "id")


def _permission_for(user):
    if is_admin(user):
        return Value("edit", output_field=CharField())
    if not has_permission(user, "constellations:write"):
        return Value("read", output_field=CharField())
    shared = ConstellationShare.objects.filter(constellation=OuterRef("pk"), user=user).values(
        "permission"
    )[:1]
    return Case(
        When(owner=user, then=Value("edit")),
        default=Coalesce(Subquery(shared), Value("read")),
        output_field=CharField(),
    )


def constellation_list(*, user):
    """Everything the user may see, newest first."""
    return restrict(Constellation.objects.all(), user, "view", listing=True).order_by(*ORDER)


def constellation_page(*, user, skip: int, limit: int) -> list[Constellation]:
    """One page with member counts and the user's permission.

    The page's ids are found first and only those rows are annotated: an
    OFFSET over annotated rows would compute the counts of every skipped one.
    """
    ids = list(constellation_list(user=user).values_list("pk", flat=True)[skip : skip + limit])
    member_count = (
        ConstellationMember.objects.filter(constellation=OuterRef("pk"))
        .order_by()
        .values("constellation")
        .annotate(n=Count("id"))
        .values("n")
    )
    return list(
        Constellation.objects.filter(pk__in=ids)
        .annotate(
            member_count=Coalesce(Subquery(member_count), 0), permission=_permission_for(user)
        )
        .order_by(*ORDER)
    )


def constellation_count(*, user) -> int:
    """How many constellations `user` may see (counted in the grant tables)."""
    return count_visible(user)


def constellation_members(*, constellation):
    return constellation.members.select_related("station").order_by("added_at", "id")


def constellation_shares(*, constellation):
    return constellation.shares.select_related("user").order_by("shared_at", "id")


def localization_list(*, user):
    """Localizations of the constellations `user` may read, newest first."""
    from apps.constellations.models import Localization

    queryset = Localization.objects.order_by("-created_at", "-id")
    if is_admin(user):
        return queryset
    return queryset.filter(
        constellation_id__in=restrict(Constellation.objects.all(), user, "view").values("pk")
    )


def localization_get(*, user, localization_id):
    """One localization `user` may read, or NotFound (missing and hidden look the same)."""
    import uuid

    from apps.core.exceptions import NotFound

    try:
        key = uuid.UUID(str(localization_id))
    except ValueError:
        raise NotFound("No such localization.") from None
    found = localization_list(user=user).filter(pk=key).first()
    if found is None:
        raise NotFound("No such localization.")
    return found


def localization_posterior(*, localization) -> dict | None:
    """The stored fix's gridded posterior (bounds, shape, probabilities summing to 1),
    redrawn from its measurements; None when the model that made it no longer exists."""
    from apps.constellations.locate import Measurement, posterior

    grid = posterior(
        [Measurement.from_dict(m) for m in localization.measurements],
        frequency_hz=localization.frequency_hz,
        method=localization.method,
        model_id=localization.model_id,
        tx_power_dbm=None if localization.tx_power_estimated else localization.tx_power_dbm,
        latitude=localization.latitude,
        longitude=localization.longitude,
        semi_major_m=localization.ellipse_semi_major_m,
    )
    return grid.as_dict() if grid is not None else None


def member_stations(*, constellation) -> dict:
    """Station id → Station (position, calibration offset) of the constellation's members."""
    return {
        member.station_id: member.station
        for member in ConstellationMember.objects.filter(constellation=constellation)
        .select_related("station")
        .only("station_id", "station__latitude", "station__longitude",
              "station__calibration_offset_db")
    }  # fmt: skip


def reference_transmitter_list() -> list:
    """Every reference transmitter, by name (seed-less list: `data` and `total`, no pages)."""
    from apps.constellations.models import ReferenceTransmitter

    return list(ReferenceTransmitter.objects.order_by("name", "id"))


REFERENCES_TTL_S = 5.0  # a new or changed reference transmitter is seen within this
_references: dict = {"expires": 0.0, "items": ()}


def active_references() -> tuple:
    """The active reference transmitters (id, frequency_hz, bandwidth_hz), read at most every
    REFERENCES_TTL_S seconds per process: every localization looks them up."""
    import time

    from apps.constellations.models import ReferenceTransmitter

    now = time.monotonic()
    if now >= _references["expires"]:
        _references["items"] = tuple(
            ReferenceTransmitter.objects.filter(active=True).values_list(
                "id", "frequency_hz", "bandwidth_hz"
            )
        )
        _references["expires"] = now + REFERENCES_TTL_S
    return _references["items"]


def forget_references() -> None:
    _references["expires"] = 0.0


def reference_for(frequency_hz: int):
    """The id of the active reference transmitter on this frequency (within max(500 Hz, half
    its bandwidth)), the nearest; None when there is none."""
    from apps.constellations.validation import frequency_tolerance_hz

    best, best_gap = None, None
    for reference_id, frequency, bandwidth in active_references():
        gap = abs(frequency - frequency_hz)
        if gap <= frequency_tolerance_hz(bandwidth) and (best_gap is None or gap < best_gap):
            best, best_gap = reference_id, gap
    return best
