"""Reads of the training app: runs and their summaries (seed 002), worker slots."""

from apps.constellations.access import constellation_for
from apps.core.exceptions import ValidationFailed
from apps.core.timeutil import isoformat_z, utc_now
from apps.stations.models import Station
from apps.training.generator import covers_frequency
from apps.training.models import (
    SyntheticDataset,
    TrainingConfigPreset,
    TrainingJob,
    TrainingMetric,
    TrainingWorker,
)

# Bookkeeping keys of a job's metrics that are not results.
_RUN_KEYS = (
    "model_id",
    "initialized_from",
    "epochs_run",
    "early_stopped",
    "train_seconds",
    "samples_per_second",
    "device",
)


def unfinished_job_of_model(model_id) -> str | None:
    """The id of the queued or running job training the registry model, if any."""
    job_id = (
        TrainingJob.objects.filter(ml_model_id=model_id)
        .exclude(
            status__in=(
                TrainingJob.Status.COMPLETED,
                TrainingJob.Status.FAILED,
                TrainingJob.Status.CANCELLED,
            )
        )
        .values_list("pk", flat=True)
        .first()
    )
    return str(job_id) if job_id else None


def job_list():
    """Training jobs, newest first (TrainingJobFilterSet narrows them): seed 000's
    /training/jobs and, summarised, seed 002's runs."""
    return TrainingJob.objects.order_by("-created_at", "id")


def dataset_list():
    """Synthetic datasets, newest first (SyntheticDatasetFilterSet narrows them)."""
    return SyntheticDataset.objects.order_by("-created_at", "id")


def preset_list() -> list[TrainingConfigPreset]:
    """Every named training configuration, by name (seed 002's /training/configs)."""
    return list(TrainingConfigPreset.objects.order_by("name"))


def run_metrics(job: TrainingJob, limit: int) -> list[TrainingMetric]:
    """The job's last `limit` metric rows, oldest first."""
    rows = TrainingMetric.objects.filter(training_job=job).order_by("-epoch", "-timestamp")
    return list(reversed(rows[:limit]))


def run_summary(job: TrainingJob) -> dict:
    """Seed 002's run summary: best epoch and loss, final metrics, epochs run, early stop,
    duration, throughput, device, the model it registered."""
    metrics = job.metrics or {}
    duration = None
    if job.started_at and job.completed_at:
        duration = round((job.completed_at - job.started_at).total_seconds(), 2)
    elif job.started_at:
        duration = round((utc_now() - job.started_at).total_seconds(), 2)
    return {
        "job_id": str(job.pk),
        "job_name": job.job_name,
        "status": job.status,
        "model_architecture": job.model_architecture,
        "config_name": job.config_name or None,
        "dataset_id": str(job.dataset_id) if job.dataset_id else None,
        "best_epoch": job.best_epoch,
        "best_val_loss": job.best_val_loss,
        "final_metrics": {
            "train_loss": job.train_loss,
            "val_loss": job.val_loss,
            "train_accuracy": job.train_accuracy,
            "val_accuracy": job.val_accuracy,
            "learning_rate": job.learning_rate,
            **{k: v for k, v in metrics.items() if k not in _RUN_KEYS},
        },
        "epochs_run": job.current_epoch,
        "total_epochs": job.total_epochs,
        "early_stopped": metrics.get("early_stopped"),
        "duration_seconds": duration,
        "train_seconds": metrics.get("train_seconds"),
        "samples_per_second": metrics.get("samples_per_second"),
        "device": metrics.get("device"),
        "model_id": metrics.get("model_id") or (str(job.ml_model_id) if job.ml_model_id else None),
        "resume_count": job.resume_count,
        "resumed_from_epoch": job.resumed_from_epoch,
        "started_at": isoformat_z(job.started_at) if job.started_at else None,
        "completed_at": isoformat_z(job.completed_at) if job.completed_at else None,
        "error_message": job.error_message or None,
    }


def latest_run() -> TrainingJob | None:
    """The most recently finished completed run."""
    return (
        TrainingJob.objects.filter(status=TrainingJob.Status.COMPLETED)
        .order_by("-completed_at", "-created_at")
        .first()
    )


def training_status(*, show_workers: bool) -> dict:
    """Per worker slot what is running, and how many jobs wait (seed 002's status)."""
    from apps.training.watchdog import STALE_AFTER

    cutoff = utc_now() - STALE_AFTER
    running = {
        job.worker: job for job in TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING)
    }
    slots = []
    for index, slot in enumerate(TrainingWorker.objects.filter(seen_at__gte=cutoff)):
        job = running.pop(slot.name, None)
        slots.append(
            {
                "slot": index + 1,
                "worker": slot.name if show_workers else None,
                "cluster": slot.cluster,
                "gpu_count": slot.gpu_count,
                "devices": slot.devices,
                "seen_at": isoformat_z(slot.seen_at),
                "job": _slot_job(job),
            }
        )
    # Jobs running where no slot registered (embedded mode's in-process workers).
    for job in running.values():
        slots.append(
            {
                "slot": len(slots) + 1,
                "worker": job.worker if show_workers else None,
                "cluster": "in-process",
                "gpu_count": None,
                "devices": [],
                "seen_at": isoformat_z(job.heartbeat_at) if job.heartbeat_at else None,
                "job": _slot_job(job),
            }
        )
    queued = TrainingJob.objects.filter(status=TrainingJob.Status.QUEUED).count()
    return {
        "running": any(slot["job"] for slot in slots),
        "slots": slots,
        "queued_jobs": queued,
        "timestamp": isoformat_z(utc_now()),
    }


def _slot_job(job: TrainingJob | None) -> dict | None:
    if job is None:
        return None
    return {
        "job_id": str(job.pk),
        "job_name": job.job_name,
        "step": job.step,
        "current_epoch": job.current_epoch,
        "total_epochs": job.total_epochs,
        "progress_percent": job.progress_percent,
        "message": job.message,
    }


def fixed_receivers(*, user, parameters: dict) -> list[list[float]]:
    """Receivers for use_random_receivers=false: a constellation's stations, else all active,
    those that cover `frequency_mhz` only: [lat, lon, frequency_min_hz, frequency_max_hz].

    Errors: 404 for a constellation the user cannot read; 400 naming `constellation_id`
    (or `use_random_receivers`) when fewer than `min_receivers` stations cover the frequency.
    """
    if parameters["constellation_id"]:
        constellation = constellation_for(user, parameters["constellation_id"], "view")
        stations = Station.objects.filter(constellation_memberships__constellation=constellation)
    else:
        stations = Station.objects.filter(status=Station.Status.ACTIVE)
    rows = stations.order_by("id").values_list(
        "latitude", "longitude", "frequency_min", "frequency_max"
    )
    points = [list(row) for row in rows if covers_frequency(row, parameters["frequency_mhz"])]
    if len(points) < parameters["min_receivers"]:
        field = "constellation_id" if parameters["constellation_id"] else "use_random_receivers"
        raise ValidationFailed.for_field(
            field,
            f"{len(points)} of {len(rows)} fixed receivers cover "
            f"{parameters['frequency_mhz']} MHz; min_receivers is {parameters['min_receivers']}",
        )
    return points


def recordings_clip_count(parameters: dict) -> int:
    """How many labelled recording clips a `recordings` dataset with these parameters
    would be cut from (apps.recordings.selectors.training_clips); 400 when none and no
    synthetic clips are mixed in, naming what excluded them."""
    from apps.recordings.selectors import label_counts, training_clips

    criteria = {
        "only_approved": parameters["only_approved"],
        "min_snr_db": parameters["min_snr_db"],
        "labels": parameters["labels"] or None,
        "recording_ids": parameters["recording_ids"] or None,
    }
    count = training_clips(**criteria).count()
    if count == 0 and not parameters["synthetic_samples"]:
        labelled = sum(label_counts(**{**criteria, "only_approved": False,
                                       "min_snr_db": None}).values())  # fmt: skip
        field = "only_approved" if labelled and parameters["only_approved"] else "min_snr_db"
        if not labelled:
            field = "recording_ids" if parameters["recording_ids"] else "labels"
        raise ValidationFailed.for_field(
            field,
            f"no labelled recording clips match ({labelled} labelled clips before the "
            "approval and SNR filters): approve clips, lower min_snr_db, or mix in "
            "synthetic_samples",
        )
    return count
