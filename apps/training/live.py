"""Training progress events for /ws/training/{job_id} (seed 000 `training_status`)."""

from apps.core.events import publish_many
from apps.core.timeutil import isoformat_z, utc_now


def job_group(job_id) -> str:
    return f"training.{job_id}"


def training_status(job) -> dict:
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
        "timestamp": isoformat_z(utc_now()),
    }


def publish_job(job_id) -> None:
    """The job's current state to its watchers, after the write that changed it commits."""
    from apps.training.models import TrainingJob

    job = TrainingJob.objects.filter(pk=job_id).first()
    if job is not None:
        publish_many(
            [(job_group(job_id), {"type": "training.status", "payload": training_status(job)})]
        )
