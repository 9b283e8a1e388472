import uuid

from django.conf import settings
from django.db import models


class SyntheticDataset(models.Model):
    """A generated training set (seed 000 synthetic data), stored as an artifact; a
    `recordings` dataset holds clips cut from approved labelled recording clips (and,
    mixed, synthetic ones)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        GENERATING = "generating"
        READY = "ready"
        FAILED = "failed"

    class Type(models.TextChoices):
        LOCALIZATION = "localization"
        SIGNALS = "signals"
        RECORDINGS = "recordings"  # labelled clips of SigMF recordings (apps.recordings)

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
    # Claimed or progress reported last (lifecycle.DATASET_STALE_AFTER: a worker that died
    # mid-generation leaves a `generating` dataset that goes stale).
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [
            models.Index(
                fields=["status", "dataset_type", "-created_at"], name="dataset_status_type_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.dataset_type}, {self.status})"


class TrainingJob(models.Model):
    """A training run (seed 000 training_jobs, every column)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        QUEUED = "queued"
        RUNNING = "running"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Step(models.TextChoices):
        INITIALIZING = "initializing"
        PREPARING_DATA = "preparing_data"
        TRAINING = "training"
        EVALUATING = "evaluating"
        EXPORTING = "exporting"
        DONE = "done"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    job_name = models.CharField(max_length=255)
    celery_task_id = models.CharField(max_length=255, unique=True, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    step = models.CharField(max_length=16, choices=Step.choices, default=Step.INITIALIZING)
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    config = models.JSONField()
    dataset = models.ForeignKey(
        SyntheticDataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    current_epoch = models.IntegerField(default=0)
    total_epochs = models.IntegerField()
    progress_percent = models.FloatField(default=0.0)
    train_loss = models.FloatField(null=True, blank=True)
    val_loss = models.FloatField(null=True, blank=True)
    train_accuracy = models.FloatField(null=True, blank=True)
    val_accuracy = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    best_epoch = models.IntegerField(null=True, blank=True)
    best_val_loss = models.FloatField(null=True, blank=True)
    checkpoint_path = models.CharField(max_length=512, blank=True)
    onnx_model_path = models.CharField(max_length=512, blank=True)
    mlflow_run_id = models.CharField(max_length=255, blank=True)
    error_message = models.TextField(blank=True)
    dataset_size = models.IntegerField(null=True, blank=True)
    train_samples = models.IntegerField(null=True, blank=True)
    val_samples = models.IntegerField(null=True, blank=True)
    model_architecture = models.CharField(max_length=100)
    metrics = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Which worker process runs the job ("host:pid") and when it last said so:
    # how a job whose worker died is found (apps.training.watchdog).
    worker = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The registry record the job trains (POST /api/v1/models/train): it becomes
    # `trained` with the bundle, or `failed` with the reason, when the job ends.
    ml_model = models.ForeignKey(
        "ml.MLModel", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    auto_activate = models.BooleanField(default=False)
    config_name = models.CharField(max_length=100, blank=True)  # the preset it started from
    # Resuming after a lost worker: the last completed epoch's checkpoint (model,
    # optimizer, scheduler and RNG state) and how often the job was resumed.
    resume_checkpoint = models.CharField(max_length=512, blank=True)
    checkpoint_epoch = models.IntegerField(default=0)
    resume_count = models.IntegerField(default=0)
    resumed_from_epoch = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["status", "-created_at"], name="trainingjob_status_idx")]

    def __str__(self) -> str:
        return f"{self.job_name} ({self.status})"


class TrainingMetric(models.Model):
    """Per-epoch (or per-batch) metrics of a job (seed 000 training_metrics)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    timestamp = models.DateTimeField()
    training_job = models.ForeignKey(
        TrainingJob, on_delete=models.CASCADE, related_name="metric_rows"
    )
    epoch = models.IntegerField()
    batch = models.IntegerField(null=True, blank=True)
    train_loss = models.FloatField(null=True, blank=True)
    val_loss = models.FloatField(null=True, blank=True)
    train_accuracy = models.FloatField(null=True, blank=True)
    val_accuracy = models.FloatField(null=True, blank=True)
    learning_rate = models.FloatField(null=True, blank=True)
    gradient_norm = models.FloatField(null=True, blank=True)
    phase = models.CharField(max_length=20, default="train")

    class Meta:
        ordering = ["training_job", "epoch", "timestamp"]
        indexes = [models.Index(fields=["training_job", "epoch"], name="trainingmetric_job_epoch")]

    def __str__(self) -> str:
        return f"{self.training_job_id} epoch {self.epoch}"


class TrainingConfigPreset(models.Model):
    """A named training configuration (seed 002's configs): the fields it sets, validated
    like a job's config; a job naming it (`config_name`) overrides them with its own."""

    name = models.SlugField(max_length=100, primary_key=True)
    description = models.TextField(blank=True)
    config = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TrainingWorker(models.Model):
    """A worker process of the training cluster (a slot): registered when django-q2 spawns
    it, with the GPUs it sees, and seen every few seconds while it lives."""

    name = models.CharField(max_length=255, primary_key=True)  # host:pid
    host = models.CharField(max_length=255)
    pid = models.IntegerField()
    cluster = models.CharField(max_length=100)
    gpu_count = models.IntegerField(default=0)
    devices = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField()
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["host", "pid"]

    def __str__(self) -> str:
        return self.name
