import uuid

from django.conf import settings
from django.db import models


class Recording(models.Model):
    """A SigMF recording (`.sigmf-meta` + `.sigmf-data`) bound to a station.

    The data file lives in artifact storage (`data_path`), never in the database;
    `meta` keeps the SigMF `global` object and `captures` as uploaded (annotations
    become RecordingClip rows). Times are UTC, frequencies integer Hz.
    """

    class AnalysisStatus(models.TextChoices):
        NOT_ANALYZED = "not_analyzed"
        PENDING = "pending"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    station = models.ForeignKey(
        "stations.Station", on_delete=models.PROTECT, related_name="recordings"
    )
    datatype = models.CharField(max_length=16)
    sample_rate = models.FloatField()  # samples per second
    sample_count = models.BigIntegerField()
    center_frequency_min_hz = models.BigIntegerField()  # lowest capture core:frequency
    center_frequency_max_hz = models.BigIntegerField()  # highest capture core:frequency
    frequency_min_hz = models.BigIntegerField()  # lowest frequency covered (centre - rate/2)
    frequency_max_hz = models.BigIntegerField()  # highest frequency covered (centre + rate/2)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField()
    meta = models.JSONField(default=dict)  # {"global": {...}, "captures": [...]}
    data_path = models.CharField(max_length=512)
    data_bytes = models.BigIntegerField()
    data_sha512 = models.CharField(max_length=128)
    analysis_status = models.CharField(
        max_length=16, choices=AnalysisStatus.choices, default=AnalysisStatus.NOT_ANALYZED
    )
    analysis_progress_percent = models.FloatField(default=0.0)
    analysis_message = models.CharField(max_length=500, blank=True)
    analysis_error = models.TextField(blank=True)
    analysis = models.JSONField(default=dict, blank=True)  # summary of the last analysis
    analyzed_at = models.DateTimeField(null=True, blank=True)
    # Queued, claimed, or progress reported last (services.ANALYSIS_STALE_AFTER: a worker
    # that died mid-analysis leaves a pending/running recording that goes stale).
    analysis_heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start_time", "id"]
        indexes = [
            models.Index(fields=["station", "start_time"], name="recording_station_time_idx"),
            models.Index(fields=["start_time", "id"], name="recording_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.station_id}, {self.start_time:%Y-%m-%d %H:%M}Z)"


class RecordingClip(models.Model):
    """A labelled span of a recording (a SigMF annotation): samples
    [sample_start, sample_start + sample_count) between two absolute frequency edges.

    Only approved clips (by an operator or admin) feed `recordings` training datasets
    by default (seed 000's `only_approved`); `snr_db` is measured from the samples
    when the clip is made, for `min_snr_db`.
    """

    class Source(models.TextChoices):
        SIGMF = "sigmf"  # an annotation of the uploaded file
        OPERATOR = "operator"  # added through the API
        ANALYSIS = "analysis"  # proposed by analyze from its detections

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    recording = models.ForeignKey(Recording, on_delete=models.CASCADE, related_name="clips")
    sample_start = models.BigIntegerField()
    sample_count = models.BigIntegerField()
    freq_lower_edge = models.BigIntegerField(null=True, blank=True)
    freq_upper_edge = models.BigIntegerField(null=True, blank=True)
    label = models.CharField(max_length=64, blank=True)
    comment = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)  # other annotation keys
    snr_db = models.FloatField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.OPERATOR)
    approved = models.BooleanField(default=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["recording", "sample_start", "id"]
        indexes = [
            models.Index(fields=["approved", "label"], name="clip_approved_label_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.label or '(unlabelled)'} @ {self.recording_id}:{self.sample_start}"
