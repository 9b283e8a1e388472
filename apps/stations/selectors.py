"""Reads for stations: lists, counts, statistics from stored data, live status."""

from datetime import datetime, timedelta

from django.db.models import Avg, Case, Count, Q, Value, When

from apps.core.bands import AMATEUR_BANDS
from apps.stations.models import Station, StationCheck

STATISTICS_WINDOW = timedelta(hours=24)
ACTIVE_BANDS_WINDOW = timedelta(hours=1)


def station_list(*, status: str | None = None):
    queryset = Station.objects.all().order_by("id")
    if status:
        queryset = queryset.filter(status=status)
    return queryset


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
    """Uptime, response time, detections and anomalies over the last 24 hours."""
    from apps.anomalies.models import AnomalyEvent
    from apps.signals.models import SignalDetection

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
        "total_detections_24h": SignalDetection.objects.filter(
            websdr_station=station, detection_timestamp__gte=since, detection_timestamp__lte=now
        ).count(),
        "anomalies_detected_24h": AnomalyEvent.objects.filter(
            station=station, detection_timestamp__gte=since, detection_timestamp__lte=now
        ).count(),
    }


def station_active_bands(*, station: Station, now: datetime) -> list[str]:
    """Amateur bands in which the station detected signals during the last hour."""
    from apps.signals.models import SignalDetection

    band = Case(
        *[
            When(frequency_hz__gte=low, frequency_hz__lte=high, then=Value(name))
            for name, low, high in AMATEUR_BANDS
            if high >= station.frequency_min and low <= station.frequency_max
        ],
        default=Value(""),
    )
    rows = (
        SignalDetection.objects.filter(
            websdr_station=station, detection_timestamp__gte=now - ACTIVE_BANDS_WINDOW
        )
        .annotate(band=band)
        .values_list("band", flat=True)
        .distinct()
        .order_by()
    )
    found = set(rows) - {""}
    return [name for name, _, _ in AMATEUR_BANDS if name in found]


def station_status(*, station: Station, now: datetime) -> dict:
    return {
        "station_id": station.id,
        "status": station.status,
        "connection_status": station.connection_status,
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
    """Whether detections or anomaly events reference the station."""
    from apps.anomalies.models import AnomalyEvent
    from apps.signals.models import SignalDetection

    return (
        SignalDetection.objects.filter(websdr_station=station).exists()
        or AnomalyEvent.objects.filter(station=station).exists()
    )
