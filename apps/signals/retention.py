"""Retention: how far back detections are kept, and dropping what is older."""

from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection

from apps.core.partitioning import drop_partitions_before, storage_mode


def retention_cutoff(now: datetime) -> datetime:
    """The oldest detection time kept: the start of the UTC day `retention days` ago."""
    day = (now - timedelta(days=settings.HEIMDALL_DETECTION_RETENTION_DAYS)).date()
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def retention_apply(*, now: datetime) -> dict:
    """Drop whole partitions of detections older than the cutoff, and what refers to them."""
    from apps.anomalies.models import AnomalyEvent
    from apps.signals.models import DetectionKey, SignalDetection
    from apps.stations.models import StationCheck

    cutoff = retention_cutoff(now)
    table = SignalDetection._meta.db_table
    key_table = DetectionKey._meta.db_table
    keys = 0

    def delete_keys(partition: str) -> None:
        # The dropped partition's ids, found through the key table's primary key.
        nonlocal keys
        with connection.cursor() as cursor:
            cursor.execute(
                f'DELETE FROM "{key_table}" k USING "{partition}" d WHERE k.id = d.id'  # noqa: S608
            )
            keys += cursor.rowcount

    dropped = drop_partitions_before(table, cutoff.date(), before_drop=delete_keys)
    deleted_rows = 0
    if not dropped:
        # Plain tables (SQLite) and hypertables' leftovers: delete by time.
        deleted_rows, _ = SignalDetection.objects.filter(detection_timestamp__lt=cutoff).delete()
    # The ids go with their detections (an expired id sent again is refused as
    # older than the retention period anyway). Hypertables, plain tables and
    # leftovers: by time (a sequential scan of the key table, once a day).
    if storage_mode(table) != "partitioned":
        leftover, _ = DetectionKey.objects.filter(detection_timestamp__lt=cutoff).delete()
        keys += leftover
    events, _ = AnomalyEvent.objects.filter(detection_timestamp__lt=cutoff).delete()
    checks, _ = StationCheck.objects.filter(checked_at__lt=cutoff).delete()
    return {
        "cutoff": cutoff,
        "partitions_dropped": [day.isoformat() for day in dropped],
        "detections_deleted": deleted_rows,
        "detection_keys_deleted": keys,
        "anomaly_events_deleted": events,
        "station_checks_deleted": checks,
    }
