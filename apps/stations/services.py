"""Writes for stations."""

from django.db import IntegrityError, transaction

from apps.core import hooks
from apps.core.exceptions import Conflict
from apps.core.outages import on_commit_robust
from apps.core.text import clean_text
from apps.stations.models import Station
from apps.stations.selectors import station_stored_history

EDITABLE_FIELDS = (
    "name",
    "url",
    "location",
    "latitude",
    "longitude",
    "frequency_min",
    "frequency_max",
    "status",
    "api_config",
    "calibration_offset_db",
)


def _clean_texts(fields: dict) -> dict:
    """Names and free text normalised as everywhere (apps.core.text), whoever calls."""
    if "name" in fields:
        fields["name"] = clean_text(fields["name"], field="name", max_length=255)
    if "location" in fields:
        fields["location"] = clean_text(
            fields["location"], field="location", max_length=255, required=False
        )
    return fields


def _status_changed() -> None:
    """After commit, tell whoever listens (the live feed's system_status) of the new station map."""
    on_commit_robust(
        lambda: hooks.fire(hooks.STATION_STATUS_CHANGED), "the station map's broadcast"
    )


@transaction.atomic
def station_create(*, id: str, **fields) -> Station:
    if Station.objects.filter(pk=id).exists():
        raise Conflict(f"Station '{id}' already exists.", {"field": "id", "value": id})
    fields = _clean_texts({k: v for k, v in fields.items() if k in EDITABLE_FIELDS})
    station = Station(id=id, **fields)
    try:
        with transaction.atomic():
            station.save(force_insert=True)
    except IntegrityError:  # a concurrent create of the same id won the race
        raise Conflict(f"Station '{id}' already exists.", {"field": "id", "value": id}) from None
    _status_changed()
    return station


@transaction.atomic
def station_update(*, station: Station, **fields) -> Station:
    fields = _clean_texts(dict(fields))
    changed = [name for name in EDITABLE_FIELDS if name in fields]
    for name in changed:
        setattr(station, name, fields[name])
    station.save(update_fields=[*changed, "updated_at"])
    if "status" in changed:
        _status_changed()
    return station


@transaction.atomic
def station_delete(*, station: Station) -> None:
    """Delete a station that has no stored history (it would be orphaned)."""
    if stored := station_stored_history(station):
        raise Conflict(
            f"Station '{station.id}' has {stored}; set its status to 'inactive' to stop "
            "collecting. It can be deleted once nothing refers to it (retention removes "
            "detections and anomaly events; recordings are deleted through the API).",
            {"field": "station_id", "value": station.id},
        )
    station.delete()
    _status_changed()


@transaction.atomic
def station_calibrations_set(*, offsets: dict[str, float]) -> int:
    """Set several stations' calibration offsets (dB) at once; returns how many changed."""
    changed = 0
    for station in Station.objects.select_for_update().filter(pk__in=list(offsets)):
        station.calibration_offset_db = float(offsets[station.pk])
        station.save(update_fields=["calibration_offset_db", "updated_at"])
        changed += 1
    return changed
