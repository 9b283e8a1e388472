"""Training events for /ws/training/{job_id} and /ws/training, as typed payloads.

Seed 000's `training_status` (the job's whole state) on every step, epoch and
status change; seed 001's `train_progress` (step, progress, message) beside
it, `train_complete` (metrics, the model) when a job completes and
`train_failed` (the error) when it fails or is cancelled. Seed 001's events
carry `type` as seed 001 names it and `event` as every Heimdall event does.

Each event goes to the job's group (`training.<job_id>`) and to the stream of
all jobs (`training.all`), after the commit that caused it
(apps.core.events). Only apps.training.lifecycle publishes them.
"""

from typing import Literal, NotRequired, TypedDict

from apps.core.events import publish_many
from apps.core.timeutil import isoformat_z, utc_now

ALL_JOBS_GROUP = "training.all"


class EpochMetrics(TypedDict):
    train_loss: float | None
    val_loss: float | None
    train_accuracy: float | None
    val_accuracy: float | None
    learning_rate: float | None


class TrainingStatusEvent(TypedDict):
    """Seed 000's `training_status`, plus `step`, `message`, `model_id`."""

    event: Literal["training_status"]
    job_id: str
    status: str
    step: str
    message: str
    current_epoch: int
    total_epochs: int
    progress_percent: float
    metrics: EpochMetrics
    error_message: str | None
    model_id: str | None
    timestamp: str


class TrainProgressEvent(TypedDict):
    """Seed 001's `train_progress`: one per step and per epoch."""

    event: Literal["train_progress"]
    type: Literal["train_progress"]
    job_id: str
    step: str
    progress_pct: float
    message: str
    timestamp: str


class TrainCompleteEvent(TypedDict):
    """Seed 001's `train_complete`: the job's final metrics and the model it produced."""

    event: Literal["train_complete"]
    type: Literal["train_complete"]
    job_id: str
    metrics: dict
    model_id: str | None
    model_dir: str | None
    timestamp: str


class TrainFailedEvent(TypedDict):
    """Seed 001's `train_failed`: a failed or cancelled job and why."""

    event: Literal["train_failed"]
    type: Literal["train_failed"]
    job_id: str
    status: str
    error: str
    timestamp: str


class ConnectedEvent(TypedDict):
    event: Literal["connected"]
    job_id: NotRequired[str]
    timestamp: str
    message: str


class PongEvent(TypedDict):
    event: Literal["pong"]
    timestamp: str


TrainingEvent = TrainingStatusEvent | TrainProgressEvent | TrainCompleteEvent | TrainFailedEvent

# The consumer method each event type is delivered to (channels: "training.status" →
# `training_status`).
HANDLER = "training.event"


def job_group(job_id) -> str:
    return f"training.{job_id}"


def _now() -> str:
    return isoformat_z(utc_now())


def training_status(job) -> TrainingStatusEvent:
    return {
        "event": "training_status",
        "job_id": str(job.pk),
        "status": job.status,
        "step": job.step,
        "message": job.message,
        "current_epoch": job.current_epoch,
        "total_epochs": job.total_epochs,
        "progress_percent": job.progress_percent,
        "metrics": {
            "train_loss": job.train_loss,
            "val_loss": job.val_loss,
            "train_accuracy": job.train_accuracy,
            "val_accuracy": job.val_accuracy,
            "learning_rate": job.learning_rate,
        },
        "error_message": job.error_message or None,
        "model_id": str(job.ml_model_id) if job.ml_model_id else job.metrics.get("model_id"),
        "timestamp": _now(),
    }


def train_progress(job) -> TrainProgressEvent:
    return {
        "event": "train_progress",
        "type": "train_progress",
        "job_id": str(job.pk),
        "step": job.step,
        "progress_pct": job.progress_percent,
        "message": job.message,
        "timestamp": _now(),
    }


def train_complete(job) -> TrainCompleteEvent:
    model_id = job.metrics.get("model_id")
    bundle = job.onnx_model_path.rsplit("/", 1)[0] if job.onnx_model_path else None
    return {
        "event": "train_complete",
        "type": "train_complete",
        "job_id": str(job.pk),
        "metrics": {k: v for k, v in job.metrics.items() if k != "model_id"},
        "model_id": model_id,
        "model_dir": bundle,
        "timestamp": _now(),
    }


def train_failed(job) -> TrainFailedEvent:
    return {
        "event": "train_failed",
        "type": "train_failed",
        "job_id": str(job.pk),
        "status": job.status,
        "error": job.error_message or job.message or job.status,
        "timestamp": _now(),
    }


def publish(job, *events: TrainingEvent) -> None:
    """`events` to the job's watchers and the all-jobs stream, after commit."""
    messages = []
    for payload in events:
        message = {"type": HANDLER, "job_id": str(job.pk), "payload": payload}
        messages += [(job_group(job.pk), message), (ALL_JOBS_GROUP, message)]
    publish_many(messages)
