import uuid

from django.conf import settings
from django.db import models


class MLModel(models.Model):
    """A trained model in the registry: metadata here, the bundle in artifact storage.

    Exactly one model per task (`model_type`) is deployed (or deployed and flagged
    `degraded`) at a time (a partial unique constraint); the live pipeline follows
    whichever that is. Status moves: apps.ml.states.
    """

    class Type(models.TextChoices):
        ANOMALY_DETECTION = "anomaly_detection"
        LOCALIZATION = "localization"
        SIGNAL_CLASSIFICATION = "signal_classification"

    class Status(models.TextChoices):
        DRAFT = "draft"
        TRAINING = "training"
        TRAINED = "trained"
        DEPLOYED = "deployed"
        FAILED = "failed"
        DEGRADED = "degraded"
        DEPRECATED = "deprecated"
        ARCHIVED = "archived"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    version = models.CharField(max_length=32)
    model_type = models.CharField(max_length=32, choices=Type.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRAINED)
    description = models.TextField(blank=True)
    # Seed 003's registry record: the architecture it trains, free-form metadata, what the
    # last training run reported (performance metrics are `metrics`), why it failed.
    architecture = models.CharField(max_length=100, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    training_metrics = models.JSONField(default=dict, blank=True)
    failure_reason = models.TextField(blank=True)
    config = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(max_length=512, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    deployment_date = models.DateTimeField(null=True, blank=True)
    last_training_date = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model_type", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="mlmodel_name_version"),
            models.UniqueConstraint(
                fields=["model_type"],
                # a degraded model is still the one serving (flagged): one of the two per type
                condition=models.Q(status__in=["deployed", "degraded"]),
                name="mlmodel_one_deployed_per_type",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.status})"
