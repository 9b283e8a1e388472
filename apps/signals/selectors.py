"""Reads of stored detections: the detection list, and what other parts of Heimdall ask for.

The detection list runs on precompiled SQL (`apps.signals.queries`, the
measured fast path: no per-request ORM compilation); its selectors here are
the one entry point the API uses. Statistics are in `apps.signals.statistics`.
Also here: what a station has detected, and which stations heard a frequency
at a time.
"""

from datetime import datetime

from django.db import connection
from django.db.models import Case, Count, Value, When

from apps.core.bands import AMATEUR_BANDS
from apps.signals import queries
from apps.signals.models import SignalDetection
from apps.signals.queries import DetectionFilters, KeysetPage


def detection_filters(params) -> DetectionFilters:
    """The list's filters from query parameters (400 naming the first bad one)."""
    return DetectionFilters.from_params(params)


def detection_page(*, filters: DetectionFilters, offset: int, limit: int) -> tuple[int, list]:
    """(how many detections match, `limit` rows after `offset`), newest first, one statement.

    Rows are dicts of `queries.LIST_FIELDS`. An unknown `websdr_station` is a 400,
    checked only when nothing matched (a hit proves the station exists).
    """
    total, rows = queries.detection_numbered_page(filters, offset, limit)
    if not rows:
        filters.check_station_exists()
    return total, rows


def detection_keyset(*, filters: DetectionFilters, cursor: str, limit: int) -> KeysetPage:
    """One page after (or before) an opaque `cursor` ("" for the first): the same cost at
    any depth."""
    page = queries.detection_keyset_page(filters, cursor, limit)
    if not page.rows:
        filters.check_station_exists()
    return page


def station_detection_count(*, station, since: datetime, until: datetime) -> dict:
    """Seed 004's `total_detections_24h` for a station over [since, until]."""
    return {
        "total_detections_24h": SignalDetection.objects.filter(
            websdr_station=station, detection_timestamp__gte=since, detection_timestamp__lte=until
        ).count()
    }


def stations_detection_counts(*, station_ids, since: datetime, until: datetime) -> dict:
    """`station_detection_count` for many stations in one grouped query."""
    rows = (
        SignalDetection.objects.filter(
            websdr_station_id__in=station_ids,
            detection_timestamp__gte=since,
            detection_timestamp__lte=until,
        )
        .values("websdr_station_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["websdr_station_id"]: {"total_detections_24h": row["n"]} for row in rows}


def station_has_detections(*, station) -> bool:
    return SignalDetection.objects.filter(websdr_station=station).exists()


def station_bands_heard(*, station, since: datetime) -> set[str]:
    """Names of the amateur bands (apps.core.bands) the station heard signals in since `since`."""
    band = Case(
        *[
            When(frequency_hz__gte=low, frequency_hz__lte=high, then=Value(name))
            for name, low, high in AMATEUR_BANDS
            if high >= station.frequency_min and low <= station.frequency_max
        ],
        default=Value(""),
    )
    rows = (
        SignalDetection.objects.filter(websdr_station=station, detection_timestamp__gte=since)
        .annotate(band=band)
        .values_list("band", flat=True)
        .distinct()
        .order_by()
    )
    return set(rows) - {""}


def stations_hearing(windows: list[tuple[int, int, datetime, datetime]]) -> list[set[str]]:
    """For each (f_low, f_high, t_low, t_high) window, the stations with a detection in it.

    PostgreSQL: one query for the whole batch (a VALUES list joined on the
    frequency-time index). Elsewhere: one ORM query per window.
    """
    found: list[set[str]] = [set() for _ in windows]
    if not windows:
        return found
    if connection.vendor == "postgresql":
        values = ", ".join(
            ["(%s, %s::bigint, %s::bigint, %s::timestamptz, %s::timestamptz)"] * len(windows)
        )
        params = [item for index, window in enumerate(windows) for item in (index, *window)]
        table = SignalDetection._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT DISTINCT v.idx, d.websdr_station_id FROM (VALUES {values}) "  # noqa: S608
                f"AS v(idx, f_low, f_high, t_low, t_high) JOIN {table} d ON "
                "d.frequency_hz BETWEEN v.f_low AND v.f_high AND "
                "d.detection_timestamp BETWEEN v.t_low AND v.t_high",
                params,
            )
            for index, station in cursor.fetchall():
                found[index].add(station)
        return found
    for index, (f_low, f_high, t_low, t_high) in enumerate(windows):
        found[index].update(
            SignalDetection.objects.filter(
                frequency_hz__gte=f_low,
                frequency_hz__lte=f_high,
                detection_timestamp__gte=t_low,
                detection_timestamp__lte=t_high,
            )
            .values_list("websdr_station_id", flat=True)
            .distinct()
        )
    return found


DETECTION_FIELDS = ("id", "websdr_station_id", "frequency_hz", "bandwidth_hz",
                    "signal_strength_db", "detection_timestamp")  # fmt: skip


def detections_by_ids(ids: list[str]) -> dict[str, dict]:
    """Stored detections by id (canonical text) → their station, frequency, bandwidth,
    strength and time; ids not stored are absent."""
    rows = SignalDetection.objects.filter(pk__in=ids).values(*DETECTION_FIELDS)
    return {str(row["id"]): row for row in rows}


def detections_of_stations(*, station_ids, since: datetime, until: datetime) -> list[dict]:
    """Detections of the given stations in [since, until] (as detections_by_ids' rows),
    sorted by frequency: what co-detections are looked for in."""
    return list(
        SignalDetection.objects.filter(
            websdr_station_id__in=list(station_ids),
            detection_timestamp__gte=since,
            detection_timestamp__lte=until,
        )
        .order_by("frequency_hz")
        .values(*DETECTION_FIELDS)
    )


def detections_at_least(*, since, until, count: int) -> bool:
    """Whether at least `count` detections are stored in [since, until): a bounded count
    (it stops at `count`), for callers that only need to know whether there is enough."""
    window = SignalDetection.objects.filter(
        detection_timestamp__gte=since, detection_timestamp__lt=until
    )
    return window[:count].count() >= count


def detections_for_learning(*, since, until, limit: int = 2_000_000) -> list[tuple]:
    """Stored detections in [since, until) as tuples for the anomaly model's training
    (apps.training.anomaly): (station id, frequency Hz, timestamp, strength dB,
    bandwidth Hz or None, modulation, signal_features), oldest first, at most `limit`."""
    return list(
        SignalDetection.objects.filter(
            detection_timestamp__gte=since, detection_timestamp__lt=until
        )
        .order_by("detection_timestamp")
        .values_list(
            "websdr_station_id", "frequency_hz", "detection_timestamp", "signal_strength_db",
            "bandwidth_hz", "modulation_type", "signal_features",
        )[:limit]
    )  # fmt: skip
