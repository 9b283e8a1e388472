from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection, transaction

from apps.anomalies.models import AnomalyEvent
from apps.core.partitioning import _partition_name, existing_partitions, storage_mode
from apps.core.timeutil import utc_now
from apps.signals import tasks
from apps.signals.models import DetectionKey, SignalDetection
from tests.helpers import yesterday_noon
from tests.signals.factories import DetectionFactory, ingest
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
TABLE = "signals_signaldetection"


def test_table_is_natively_partitioned_on_postgres_without_timescaledb():
    assert storage_mode(TABLE) == "partitioned"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_partkeydef(oid) FROM pg_class WHERE relname = %s", [TABLE])
        assert cursor.fetchone()[0] == "RANGE (detection_timestamp)"
        cursor.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
            "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) "
            "WHERE c.relname = %s AND i.indisprimary ORDER BY a.attname",
            [TABLE],
        )
        assert [row[0] for row in cursor.fetchall()] == ["detection_timestamp", "id"]


def test_every_filter_has_an_index():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [TABLE])
        definitions = " ".join(row[0] for row in cursor.fetchall())
    for columns in ("websdr_station_id, detection_timestamp", "frequency_hz, detection_timestamp",
                    "modulation_type, detection_timestamp", "detection_timestamp, id"):  # fmt: skip
        assert f"({columns})" in definitions
    assert "WHERE is_anomaly" in definitions


def test_scheduled_task_creates_partitions_ahead(settings, monkeypatch):
    settings.HEIMDALL_PARTITIONS_AHEAD_DAYS = 3
    now = utc_now()
    today = now.date()
    # The task's clock is the test's: midnight UTC passing between the two reads of it
    # made the task's "today" the test's tomorrow.
    monkeypatch.setattr(tasks, "utc_now", lambda: now)
    tasks.maintain_partitions()
    present = existing_partitions(TABLE)
    for offset in range(-1, 4):
        assert today + timedelta(days=offset) in present
    assert tasks.maintain_partitions() == []  # idempotent


def test_query_prunes_to_the_window_partition():
    StationFactory(id="twente-nl")
    day = yesterday_noon()  # not a fixed date: 90 days on, ingest refuses it
    ingest(DetectionFactory(when=day), DetectionFactory(when=day - timedelta(days=1)))
    queryset = SignalDetection.objects.filter(
        detection_timestamp__gte=day - timedelta(hours=1), detection_timestamp__lte=day
    )
    plan = queryset.explain()
    assert f"p{day:%Y%m%d}" in plan
    assert f"p{day - timedelta(days=1):%Y%m%d}" not in plan


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # ingests committed
def test_retention_drops_whole_old_partitions(settings):
    settings.HEIMDALL_DETECTION_RETENTION_DAYS = 30
    StationFactory(id="twente-nl")
    now = utc_now()
    recent = DetectionFactory(when=now - timedelta(days=2), anomaly_score=0.9)
    ingest(recent)
    old_day = (now - timedelta(days=45)).date()
    # Old data arrives while the retention period was longer.
    settings.HEIMDALL_DETECTION_RETENTION_DAYS = 90
    old = DetectionFactory(when=datetime(old_day.year, old_day.month, old_day.day, 6, tzinfo=UTC),
                              anomaly_score=0.9)  # fmt: skip
    ingest(old)
    settings.HEIMDALL_DETECTION_RETENTION_DAYS = 30

    result = tasks.apply_retention()

    assert old_day.isoformat() in result["partitions_dropped"]
    assert old_day not in existing_partitions(TABLE)
    assert list(SignalDetection.objects.values_list("id", flat=True)) == [
        __import__("uuid").UUID(recent["id"])
    ]
    assert result["anomaly_events_deleted"] == 1
    assert AnomalyEvent.objects.count() == 1
    # The expired id goes with its partition; the recent one stays.
    assert result["detection_keys_deleted"] == 1
    assert [str(k) for k in DetectionKey.objects.values_list("id", flat=True)] == [recent["id"]]


def test_partition_names_are_days():
    StationFactory(id="twente-nl")
    day = (utc_now() - timedelta(days=10)).date()
    ingest(DetectionFactory(when=datetime(day.year, day.month, day.day, 23, 59, tzinfo=UTC)))
    assert day in existing_partitions(TABLE)
    assert isinstance(day, date)


def test_partitions_made_in_a_rolled_back_transaction_are_not_taken_as_made(
    django_capture_on_commit_callbacks,
):
    """Found: a Python caller's transaction around an ingest rolled back, the day's new
    partition with it, but this process remembered the partition as made: every later
    ingest of that day failed ('no partition of relation ... found for row', a 500). The
    partitions are remembered once committed."""
    StationFactory(id="twente-nl")
    when = utc_now() - timedelta(days=3)
    day = when.date()
    with connection.cursor() as cursor:  # (dropped within this test's transaction only)
        cursor.execute(f'DROP TABLE IF EXISTS "{_partition_name(TABLE, day)}"')
    with pytest.raises(RuntimeError), transaction.atomic():
        ingest(DetectionFactory(when=when))
        assert day in existing_partitions(TABLE)
        raise RuntimeError("the caller's transaction fails")
    assert day not in existing_partitions(TABLE)
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest(DetectionFactory(when=when)).ingested == 1
    assert day in existing_partitions(TABLE)
    assert SignalDetection.objects.filter(detection_timestamp=when).count() == 1
