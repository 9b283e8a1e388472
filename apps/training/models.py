import uuid

from django.conf import settings
from django.db import models


class SyntheticDataset(models.Model):
    """A generated training set (seed 000 synthetic data), stored as an artifact."""

    class Status(models.TextChoices):
        PENDING = "pending"
        GENERATING = "generating"
        READY = "ready"
        FAILED = "failed"

    class Type(models.TextChoices):
        LOCALIZATION = "localization"
        SIGNALS = "signals"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    dataset_type = models.CharField(max_length=16, choices=Type.choices, default=Type.LOCALIZATION)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    parameters = models.JSONField(default=dict)
    num_samples = models.IntegerField()
    samples_generated = models.IntegerField(default=0)
    progress_percent = models.FloatField(default=0.0)
    message = models.CharField(max_length=500, blank=True)
    error_message = models.TextField(blank=True)
    statistics = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(max_length=512, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(
                fields=["status", "dataset_type", "-created_at"], name="dataset_status_type_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.dataset_type}, {self.status})"
