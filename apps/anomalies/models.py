import uuid

from django.conf import settings
from django.db import models


class AnomalyEvent(models.Model):
    """An anomaly raised for operators to look at (seed 004 AnomalyEvent).

    One event covers a continuing anomaly on one station and channel
    (apps.anomalies.channels): it stays open while anomalous detections keep
    coming, counting them (`detection_count`, `first_seen`, `last_seen`,
    `peak_score`; severity follows the peak), and closes once the channel has
    been quiet for HEIMDALL_ANOMALY_EVENT_QUIET_SECONDS. At most one event per
    station and channel is open (a partial unique constraint). `detection_id` is
    the detection that opened it.

    `detection_id` is not a foreign key: the detections table is partitioned
    and its unique key includes the timestamp, kept here as
    `detection_timestamp` so the detection is found in its partition.
    """

    class Severity(models.TextChoices):
        LOW = "low"
        MEDIUM = "medium"
        HIGH = "high"
        CRITICAL = "critical"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    detection_id = models.UUIDField(unique=True)
    detection_timestamp = models.DateTimeField()
    station = models.ForeignKey(
        "stations.Station",
        on_delete=models.DO_NOTHING,
        related_name="anomaly_events",
        db_index=False,  # anomaly_station_created_idx leads with the station
    )
    frequency_hz = models.BigIntegerField()
    anomaly_score = models.FloatField()
    event_type = models.CharField(max_length=64)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    description = models.CharField(max_length=500)
    metadata = models.JSONField(default=dict, blank=True)
    acknowledged = models.BooleanField(default=False)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="acknowledged_anomalies",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Grouping (apps.anomalies.services.anomaly_events_record)
    channel_hz = models.BigIntegerField(default=0)
    is_open = models.BooleanField(default=False)
    detection_count = models.PositiveIntegerField(default=1)
    first_seen = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    peak_score = models.FloatField(null=True, blank=True)
    # When a detection last joined the event, on the wall clock (last_seen is detection
    # time): the periodic close waits for both to be quiet, so a replayed recording's
    # past traffic is not cut into one event per tick of the periodic task.
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at"], name="anomaly_created_idx"),
            models.Index(fields=["station", "created_at"], name="anomaly_station_created_idx"),
            models.Index(fields=["severity", "created_at"], name="anomaly_severity_created_idx"),
            models.Index(fields=["acknowledged", "created_at"], name="anomaly_ack_created_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "channel_hz"],
                condition=models.Q(is_open=True),
                name="anomaly_one_open_per_channel",
            )
        ]

    def __str__(self) -> str:
        return f"{self.severity} {self.event_type} @ {self.station_id}"
