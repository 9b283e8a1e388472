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


class DetectionKey(models.Model):
    """One row per stored detection id: what makes an id unique across all partitions.

    The partitioned detection table can only be unique on (id,
    detection_timestamp), so the same id with another timestamp would land in
    another partition as a second row. Every ingest writes the ids it stores
    here (primary key: the id alone) in the same transaction, with a digest of
    the content the client sent: a repeat with the same digest is a duplicate,
    one with another digest a 409. Keys go with their partitions (retention).
    `content_hash` is NULL for ids stored before this table existed; their
    repeats are compared by timestamp.
    """

    id = models.UUIDField(primary_key=True)
    # No index: retention deletes a dropped partition's ids through the primary key.
    detection_timestamp = models.DateTimeField()
    content_hash = models.UUIDField(null=True, blank=True)  # 128-bit BLAKE2b of the content

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.id} @ {self.detection_timestamp}"
