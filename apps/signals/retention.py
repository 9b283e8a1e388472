"""Retention: how far back detections are kept, and dropping what is older."""

from datetime import UTC, datetime, timedelta

from django.conf import settings

from apps.core.partitioning import drop_partitions_before


def retention_cutoff(now: datetime) -> datetime:
    """The oldest detection time kept: the start of the UTC day `retention days` ago."""
    day = (now - timedelta(days=settings.HEIMDALL_DETECTION_RETENTION_DAYS)).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def retention_apply(*, now: datetime) -> dict:
    """Drop whole partitions of detections older than the cutoff, and what refers to them."""
    from apps.anomalies.models import AnomalyEvent
    from apps.signals.models import SignalDetection
    from apps.stations.models import StationCheck

    cutoff = retention_cutoff(now)
    table = SignalDetection._meta.db_table
    dropped = drop_partitions_before(table, cutoff.date())
    deleted_rows = 0
    if not dropped:
        # Plain tables (SQLite) and hypertables' leftovers: delete by time.
        deleted_rows, _ = SignalDetection.objects.filter(detection_timestamp__lt=cutoff).delete()
    events, _ = AnomalyEvent.objects.filter(detection_timestamp__lt=cutoff).delete()
    checks, _ = StationCheck.objects.filter(checked_at__lt=cutoff).delete()
    return {
        "cutoff": cutoff,
        "partitions_dropped": [day.isoformat() for day in dropped],
        "detections_deleted": deleted_rows,
        "anomaly_events_deleted": events,
        "station_checks_deleted": checks,
    }
