import uuid

from django.db import models


class SignalDetection(models.Model):
    """One signal seen by one station at one moment (seed 004 SignalDetection).

    Time series: on PostgreSQL the table is partitioned by
    `detection_timestamp` (see apps.core.partitioning); the database key is
    (id, detection_timestamp).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # DO_NOTHING: Django's PROTECT/CASCADE would load every detection of the
    # station; stations_delete checks for detections with one EXISTS instead.
    websdr_station = models.ForeignKey(
        "stations.Station",
        on_delete=models.DO_NOTHING,
        related_name="detections",
        db_index=False,  # det_station_time_idx leads with the station
    )
    frequency_hz = models.BigIntegerField()
    signal_strength_db = models.FloatField()
    bandwidth_hz = models.IntegerField(null=True, blank=True)
    modulation_type = models.CharField(max_length=16, blank=True)
    signal_features = models.JSONField(default=dict, blank=True)
    anomaly_score = models.FloatField(null=True, blank=True)
    is_anomaly = models.BooleanField(default=False)
    detection_timestamp = models.DateTimeField()
    processing_metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-detection_timestamp", "-id"]
        indexes = [
            models.Index(fields=["detection_timestamp", "id"], name="det_time_id_idx"),
            models.Index(
                fields=["websdr_station", "detection_timestamp"], name="det_station_time_idx"
            ),
            models.Index(fields=["frequency_hz", "detection_timestamp"], name="det_freq_time_idx"),
            models.Index(
                fields=["modulation_type", "detection_timestamp"], name="det_mod_time_idx"
            ),
            models.Index(
                fields=["detection_timestamp"],
                name="det_anomaly_time_idx",
                condition=models.Q(is_anomaly=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.frequency_hz} Hz @ {self.websdr_station_id} {self.detection_timestamp}"
