"""Reads for stations: lists, counts, statistics from stored data, live status."""

import contextlib
import logging
from datetime import datetime, timedelta
from hashlib import blake2b

from django.core.cache import cache
from django.db.models import Avg, Count, Q

from apps.core.bands import AMATEUR_BANDS
from apps.stations import activity
from apps.stations.models import Station, StationCheck

logger = logging.getLogger(__name__)

STATISTICS_WINDOW = timedelta(hours=24)
ACTIVE_BANDS_WINDOW = timedelta(hours=1)


def station_list():
    """Every station by id (StationFilterSet narrows it)."""
    return Station.objects.all().order_by("id")


def station_counts(queryset) -> dict[str, int]:
    counts = queryset.aggregate(
        total=Count("id"), active=Count("id", filter=Q(status=Station.Status.ACTIVE))
    )
    return {
        "total_count": counts["total"],
        "active_count": counts["active"],
        "inactive_count": counts["total"] - counts["active"],
    }


def station_statistics(*, station: Station, now: datetime) -> dict:
    """Uptime, response time, detections and anomalies over the last 24 hours.

    Uptime and response time come from the station's own checks; detection
    and anomaly counts from the apps that store them (`apps.stations.activity`).
    """
    since = now - STATISTICS_WINDOW
    checks = StationCheck.objects.filter(station=station, checked_at__gte=since).aggregate(
        n_checks=Count("id"),
        n_ok=Count("id", filter=Q(ok=True)),
        avg_response=Avg("response_time_ms", filter=Q(ok=True)),
    )
    n_checks = checks["n_checks"]
    uptime = round(100.0 * checks["n_ok"] / n_checks, 2) if n_checks else None
    avg_response = checks["avg_response"]
    return {
        "uptime_percentage": uptime,
        "average_response_time_ms": round(avg_response, 1) if avg_response is not None else None,
        "total_detections_24h": 0,
        "anomalies_detected_24h": 0,
        **activity.collect_statistics(station, since, now),
    }


def station_statistics_many(*, stations, now: datetime, max_age_s: int = 0) -> dict[str, dict]:
    """`station_statistics` for many stations: {station_id: statistics}, in a fixed number
    of grouped queries (checks here, detections and anomalies by their apps) rather than
    three per station.

    `max_age_s`: statistics computed up to that many seconds ago may come from the cache
    (the console's station list). Counting a day of detections reads every row of it —
    ~65 ms for 167,000 rows with 5,000,000 stored (bench/console.py) — and a 24-hour
    count a few seconds old says the same to an operator. Without the cache (Redis
    down) they are computed.
    """
    ids = [station.id for station in stations]
    if not max_age_s:
        return _statistics_many(ids, now)
    key = (
        "stations:statistics:" + blake2b(",".join(sorted(ids)).encode(), digest_size=16).hexdigest()
    )
    try:
        found = cache.get(key)
    except Exception:
        logger.warning("station statistics: cache unreachable", exc_info=True)
        return _statistics_many(ids, now)
    if found is None:
        found = _statistics_many(ids, now)
        with contextlib.suppress(Exception):  # a cache outage: computed next time too
            cache.set(key, found, max_age_s)
    return found


def _statistics_many(ids: list[str], now: datetime) -> dict[str, dict]:
    since = now - STATISTICS_WINDOW
    checks = {
        row["station_id"]: row
        for row in StationCheck.objects.filter(station_id__in=ids, checked_at__gte=since)
        .values("station_id")
        .annotate(
            n_checks=Count("id"),
            n_ok=Count("id", filter=Q(ok=True)),
            avg_response=Avg("response_time_ms", filter=Q(ok=True)),
        )
        .order_by()
    }
    activity_by_station = activity.collect_statistics_many(ids, since, now)
    found = {}
    for station_id in ids:
        row = checks.get(station_id)
        n_checks = row["n_checks"] if row else 0
        avg_response = row["avg_response"] if row else None
        found[station_id] = {
            "uptime_percentage": round(100.0 * row["n_ok"] / n_checks, 2) if n_checks else None,
            "average_response_time_ms": round(avg_response, 1)
            if avg_response is not None
            else None,
            "total_detections_24h": 0,
            "anomalies_detected_24h": 0,
            **activity_by_station.get(station_id, {}),
        }
    return found


def station_active_bands(*, station: Station, now: datetime) -> list[str]:
    """Amateur bands in which the station detected signals during the last hour."""
    found = activity.bands_heard(station, now - ACTIVE_BANDS_WINDOW)
    return [name for name, _, _ in AMATEUR_BANDS if name in found]


def station_connection_error(station: Station) -> str | None:
    """Why the station's collector is failing (its latest failed check), while it is."""
    if station.connection_status != Station.Connection.ERROR:
        return None
    check = StationCheck.objects.filter(station=station, ok=False).order_by("-checked_at").first()
    return check.error if check else None


def station_status(*, station: Station, now: datetime) -> dict:
    return {
        "station_id": station.id,
        "status": station.status,
        "connection_status": station.connection_status,
        "connection_error": station_connection_error(station),
        "last_data_received": station.last_seen,
        "response_time_ms": station.response_time_ms,
        "current_listeners": station.current_listeners,
        "signal_quality": station.signal_quality,
        "frequency_coverage": {
            "current_frequency": station.current_frequency,
            "active_bands": station_active_bands(station=station, now=now),
        },
    }


def station_freshness(*, stale_after: timedelta, now: datetime) -> tuple[int, int]:
    """(active stations heard from within `stale_after`, all active stations)."""
    counts = Station.objects.filter(status=Station.Status.ACTIVE).aggregate(
        total=Count("id"), fresh=Count("id", filter=Q(last_seen__gte=now - stale_after))
    )
    return counts["fresh"], counts["total"]


def station_has_history(station: Station) -> bool:
    """Whether stored detections, anomaly events or recordings reference the station."""
    return activity.has_history(station)


def station_stored_history(station: Station) -> str | None:
    """What stored rows reference the station ("stored detections", "recordings"), or None."""
    return activity.stored_history(station)
