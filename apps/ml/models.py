import uuid

from django.db import models


class MLModel(models.Model):
    """A trained model in the registry: metadata here, the bundle in artifact storage.

    Exactly one model per task (`model_type`) is deployed at a time (a partial
    unique constraint); the live pipeline follows whichever that is.
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
        DEPRECATED = "deprecated"
        ARCHIVED = "archived"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    version = models.CharField(max_length=32)
    model_type = models.CharField(max_length=32, choices=Type.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.TRAINED)
    description = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    config = models.JSONField(default=dict, blank=True)
    artifact_path = models.CharField(max_length=512, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    deployment_date = models.DateTimeField(null=True, blank=True)
    last_training_date = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model_type", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="mlmodel_name_version"),
            models.UniqueConstraint(
                fields=["model_type"],
                condition=models.Q(status="deployed"),
                name="mlmodel_one_deployed_per_type",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version} ({self.status})"
