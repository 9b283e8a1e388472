"""Validation of a localize request, naming the field (`measurements[2].websdr_station_id`).

Every problem is collected; the 400 names the first and lists all (`details.fields`),
like detection ingest. Nothing is written before a request is valid.
"""

import math
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from apps.constellations.locate import Measurement
from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.exceptions import ValidationFailed
from apps.core.timeutil import utc_now
from apps.signals.selectors import detections_by_ids
from apps.signals.validation import MAX_CLOCK_SKEW, canonical_uuid, parse_timestamp

METHODS = ("auto", "model", "wls")
MIN_RECEIVERS = 3
MAX_RECEIVERS = 64
TOP_FIELDS = frozenset(["frequency_hz", "measurements", "detection_ids", "method", "tx_power_dbm"])
MEASUREMENT_FIELDS = frozenset(["websdr_station_id", "signal_strength_db", "timestamp"])
STRENGTH_RANGE_DB = (-250.0, 100.0)
POWER_RANGE_DBM = (-50.0, 100.0)


@dataclass(frozen=True)
class LocalizeRequest:
    frequency_hz: int
    measurements: list[Measurement]
    method: str
    tx_power_dbm: float | None
    detection_ids: list[str]
    observed_from: datetime | None
    observed_until: datetime | None


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def frequency_tolerance_hz(*bandwidths, minimum: float | None = None) -> float:
    """Two detections are on the same frequency within the larger half-bandwidth, at least
    `minimum` (default HEIMDALL_LOCALIZE_MIN_TOLERANCE_HZ, 500 Hz; hot loops pass it)."""
    if minimum is None:
        minimum = settings.HEIMDALL_LOCALIZE_MIN_TOLERANCE_HZ
    return max([minimum, *(b / 2 for b in bandwidths if b)])


def _raise(errors: dict[str, list[str]]):
    first = next(iter(errors))
    raise ValidationFailed(
        f"Invalid value for '{first}': {errors[first][0]}",
        {"field": first, "constraint": errors[first][0], "fields": errors},
    )


def clean_localize_request(data, *, members: dict) -> LocalizeRequest:
    """The request as measurements of member stations; ValidationFailed naming the field.

    `members`: station id → Station, the constellation's members."""
    if not isinstance(data, dict):
        _raise({"body": ["must be a JSON object"]})
    errors: dict[str, list[str]] = {}
    for key in sorted(set(data) - TOP_FIELDS):
        errors[key] = ["unknown field"]
    method = data.get("method", "auto")
    if method not in METHODS:
        errors["method"] = [f"must be one of {', '.join(METHODS)}"]
    power = data.get("tx_power_dbm")
    if power is not None and not (
        _number(power) and POWER_RANGE_DBM[0] <= power <= POWER_RANGE_DBM[1]
    ):
        errors["tx_power_dbm"] = [
            f"must be a finite number from {POWER_RANGE_DBM[0]:g} to {POWER_RANGE_DBM[1]:g} dBm"
        ]
    has_measurements, has_detections = "measurements" in data, "detection_ids" in data
    if has_measurements and has_detections:
        errors["detection_ids"] = ["give measurements or detection_ids, not both"]
    elif not has_measurements and not has_detections:
        errors["measurements"] = ["required (or detection_ids)"]
    if errors:
        _raise(errors)
    if has_detections:
        request = _from_detections(data, members, errors)
    else:
        request = _from_measurements(data, members, errors)
    if errors:
        _raise(errors)
    return LocalizeRequest(**request, method=method,
                           tx_power_dbm=float(power) if power is not None else None)  # fmt: skip


def _from_measurements(data: dict, members: dict, errors: dict) -> dict:
    frequency = data.get("frequency_hz")
    if not (isinstance(frequency, int) and not isinstance(frequency, bool)
            and 0 < frequency <= MAX_FREQUENCY_HZ):  # fmt: skip
        errors["frequency_hz"] = [f"must be an integer from 1 to {MAX_FREQUENCY_HZ} Hz"]
    items = data.get("measurements")
    if not isinstance(items, list):
        errors["measurements"] = ["must be a list of measurements"]
        return {}
    if not MIN_RECEIVERS <= len(items) <= MAX_RECEIVERS:
        errors["measurements"] = [
            f"needs {MIN_RECEIVERS} to {MAX_RECEIVERS} measurements of member stations "
            f"(got {len(items)})"
        ]
        return {}
    seen: dict[str, int] = {}
    measurements, times, stamped = [], [], []
    for index, item in enumerate(items):
        prefix = f"measurements[{index}]"
        if not isinstance(item, dict):
            errors[prefix] = ["must be an object"]
            continue
        for key in sorted(set(item) - MEASUREMENT_FIELDS):
            errors[f"{prefix}.{key}"] = ["unknown field"]
        station_id = item.get("websdr_station_id")
        field = f"{prefix}.websdr_station_id"
        if not isinstance(station_id, str) or not station_id:
            errors[field] = ["required: a station id"]
        elif station_id not in members:
            errors[field] = [f"station '{station_id}' is not a member of this constellation"]
        elif station_id in seen:
            errors[field] = [
                f"duplicate station '{station_id}' (also measurements[{seen[station_id]}])"
            ]
        else:
            seen[station_id] = index
        strength = item.get("signal_strength_db")
        if not (_number(strength) and STRENGTH_RANGE_DB[0] <= strength <= STRENGTH_RANGE_DB[1]):
            errors[f"{prefix}.signal_strength_db"] = [
                f"must be a finite number from {STRENGTH_RANGE_DB[0]:g} to "
                f"{STRENGTH_RANGE_DB[1]:g} dB"
            ]
        timestamp = None
        if item.get("timestamp") is not None:
            timestamp = parse_timestamp(item["timestamp"])
            if timestamp is None:
                errors[f"{prefix}.timestamp"] = ["must be an ISO 8601 date-time"]
            elif timestamp > utc_now() + MAX_CLOCK_SKEW:
                errors[f"{prefix}.timestamp"] = ["must not be in the future"]
            else:
                times.append(timestamp)
                stamped.append((index, timestamp, strength))
        if any(key.startswith(prefix) for key in errors):
            continue
        station = members[station_id]
        measurements.append(Measurement(
            station_id=station_id, latitude=station.latitude, longitude=station.longitude,
            reported_db=float(strength), offset_db=station.calibration_offset_db,
            timestamp=item.get("timestamp") and timestamp.isoformat().replace("+00:00", "Z"),
        ))  # fmt: skip
    _check_one_transmission(stamped, errors)
    return {
        "frequency_hz": frequency,
        "measurements": measurements,
        "detection_ids": [],
        "observed_from": min(times) if times else None,
        "observed_until": max(times) if times else None,
    }


def _check_one_transmission(stamped: list, errors: dict) -> None:
    """Timestamped measurements are one transmission: within the detections' window
    (HEIMDALL_LOCALIZE_DETECTIONS_WINDOW_S) of the strongest timestamped one."""
    if len(stamped) < 2:
        return
    window = settings.HEIMDALL_LOCALIZE_DETECTIONS_WINDOW_S
    _, anchor, _ = max(stamped, key=lambda row: row[2] if _number(row[2]) else -math.inf)
    for index, timestamp, _ in stamped:
        apart = abs((timestamp - anchor).total_seconds())
        if apart > window:
            errors[f"measurements[{index}].timestamp"] = [
                f"{apart:.1f} s from the strongest measurement (window {window:g} s): "
                "not one transmission"
            ]


def _from_detections(data: dict, members: dict, errors: dict) -> dict:
    if "frequency_hz" in data:
        errors["frequency_hz"] = ["not with detection_ids: the detections give the frequency"]
    raw = data.get("detection_ids")
    if not isinstance(raw, list):
        errors["detection_ids"] = ["must be a list of detection ids"]
        return {}
    if not MIN_RECEIVERS <= len(raw) <= MAX_RECEIVERS:
        errors["detection_ids"] = [
            f"needs {MIN_RECEIVERS} to {MAX_RECEIVERS} detections of member stations "
            f"(got {len(raw)})"
        ]
        return {}
    ids: list[str | None] = []
    seen: dict[str, int] = {}
    for index, value in enumerate(raw):
        canonical = canonical_uuid(value)
        if canonical is None:
            errors[f"detection_ids[{index}]"] = ["must be a detection id (UUID)"]
        elif canonical in seen:
            errors[f"detection_ids[{index}]"] = [f"duplicate of detection_ids[{seen[canonical]}]"]
            canonical = None
        else:
            seen[canonical] = index
        ids.append(canonical)
    if errors:
        return {}
    found = detections_by_ids([i for i in ids if i])
    stations: dict[str, int] = {}
    rows = []
    for index, detection_id in enumerate(ids):
        field = f"detection_ids[{index}]"
        row = found.get(detection_id)
        if row is None:
            errors[field] = [f"unknown detection '{detection_id}'"]
            continue
        station_id = row["websdr_station_id"]
        if station_id not in members:
            errors[field] = [f"its station '{station_id}' is not a member of this constellation"]
        elif station_id in stations:
            first = stations[station_id]
            errors[field] = [
                f"a second detection from station '{station_id}' (also detection_ids[{first}])"
            ]
        else:
            stations[station_id] = index
            rows.append((index, row))
    if errors:
        return {}
    # Same transmission: one frequency within the tolerance, times within the window,
    # both measured from the strongest detection.
    _, anchor = max(rows, key=lambda pair: pair[1]["signal_strength_db"])
    window = settings.HEIMDALL_LOCALIZE_DETECTIONS_WINDOW_S
    for index, row in rows:
        tolerance = frequency_tolerance_hz(row["bandwidth_hz"], anchor["bandwidth_hz"])
        gap = abs(row["frequency_hz"] - anchor["frequency_hz"])
        if gap > tolerance:
            errors[f"detection_ids[{index}]"] = [
                f"{row['frequency_hz']} Hz is {gap} Hz from the strongest detection's "
                f"{anchor['frequency_hz']} Hz (tolerance {tolerance:g} Hz): not one transmission"
            ]
            continue
        apart = abs((row["detection_timestamp"] - anchor["detection_timestamp"]).total_seconds())
        if apart > window:
            errors[f"detection_ids[{index}]"] = [
                f"{apart:.1f} s from the strongest detection (window {window:g} s): "
                "not one transmission"
            ]
    if errors:
        return {}
    return detection_request(rows=[row for _, row in rows], members=members)


def detection_request(*, rows: list[dict], members: dict) -> dict:
    """A request's parts from detections of one transmission (one per station)."""
    measurements = [
        Measurement(
            station_id=row["websdr_station_id"],
            latitude=members[row["websdr_station_id"]].latitude,
            longitude=members[row["websdr_station_id"]].longitude,
            reported_db=float(row["signal_strength_db"]),
            offset_db=members[row["websdr_station_id"]].calibration_offset_db,
            timestamp=row["detection_timestamp"].isoformat().replace("+00:00", "Z"),
            detection_id=str(row["id"]),
        )
        for row in rows
    ]
    frequencies = sorted(row["frequency_hz"] for row in rows)
    times = [row["detection_timestamp"] for row in rows]
    return {
        "frequency_hz": int(frequencies[len(frequencies) // 2]),
        "measurements": measurements,
        "detection_ids": [str(row["id"]) for row in rows],
        "observed_from": min(times),
        "observed_until": max(times),
    }
