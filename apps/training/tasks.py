"""Background work of the training app (run by django-q2 workers, or in-process embedded)."""

import logging

import numpy as np
from django.db.models import F

from apps.core.timeutil import utc_now
from apps.training import generator
from apps.training.models import SyntheticDataset
from apps.training.services import dataset_store

logger = logging.getLogger(__name__)


def generate_dataset(dataset_id: str) -> str:
    """pending → generating (with progress) → ready, or failed with the reason."""
    claimed = SyntheticDataset.objects.filter(
        pk=dataset_id, status=SyntheticDataset.Status.PENDING
    ).update(status=SyntheticDataset.Status.GENERATING, message="Generating", progress_percent=0)
    if not claimed:  # deleted, or another worker has it (tasks are idempotent)
        return "skipped"
    dataset = SyntheticDataset.objects.get(pk=dataset_id)
    params = dataset.parameters

    def progress(done: int) -> None:
        SyntheticDataset.objects.filter(pk=dataset_id).update(
            samples_generated=done,
            progress_percent=round(100.0 * done / dataset.num_samples, 1),
            message=f"Generated {done} of {dataset.num_samples} samples",
        )

    try:
        if dataset.dataset_type == SyntheticDataset.Type.SIGNALS:
            arrays = generator.generate_signals(
                num_samples=params["num_samples"],
                seed=params.get("receiver_seed"),
                snr_min_db=params["snr_min_db"],
                snr_max_db=params["snr_max_db"],
                clip_samples=params["clip_samples"],
                progress=progress,
            )
            statistics = {
                "classes": list(generator.SIGNAL_CLASSES),
                "per_class": np.bincount(
                    arrays["labels"], minlength=len(generator.SIGNAL_CLASSES)
                ).tolist(),
            }
        else:
            fields = generator.LocalizationParameters.__dataclass_fields__
            arrays = generator.generate_localization(
                generator.LocalizationParameters(
                    **{k: v for k, v in params.items() if k in fields},
                ),
                progress,
            )
            counts = arrays["mask"].sum(axis=1)
            statistics = {
                "receivers_per_sample": {
                    "min": int(counts.min()),
                    "max": int(counts.max()),
                    "mean": round(float(counts.mean()), 2),
                },
                "gdop": {
                    "median": round(float(np.median(arrays["gdop"])), 3),
                    "p90": round(float(np.quantile(arrays["gdop"], 0.9)), 3),
                },
                "crb_m": {
                    "median": round(float(np.median(arrays["crb_m"])), 1),
                    "p90": round(float(np.quantile(arrays["crb_m"], 0.9)), 1),
                },
            }
        dataset_store(dataset=dataset, arrays=arrays)
    except Exception as exc:
        logger.exception("dataset %s failed", dataset_id)
        SyntheticDataset.objects.filter(pk=dataset_id).update(
            status=SyntheticDataset.Status.FAILED,
            error_message=str(exc)[:2000],
            message="Failed",
            completed_at=utc_now(),
        )
        return "failed"
    SyntheticDataset.objects.filter(pk=dataset_id).update(
        status=SyntheticDataset.Status.READY,
        statistics=statistics,
        progress_percent=100.0,
        samples_generated=F("num_samples"),
        message="Ready",
        artifact_path=dataset.artifact_path,
        artifact_sha256=dataset.artifact_sha256,
        completed_at=utc_now(),
    )
    return "ready"


# How allocators say it: numpy's MemoryError, torch's CUDA OutOfMemoryError ("CUDA out of
# memory"), torch's CPU allocator ("DefaultCPUAllocator: can't allocate memory").
OUT_OF_MEMORY_SIGNS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def failure_message(exc: BaseException) -> str:
    """A failed job's error_message; running out of memory is said first, in one way."""
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, MemoryError) or any(sign in text.lower() for sign in OUT_OF_MEMORY_SIGNS):
        return f"Out of memory: {text}"
    return text


def run_training_job(job_id: str) -> str:
    """queued → running → completed | failed | cancelled. Idempotent on the job's status."""
    from apps.training import runner
    from apps.training.live import publish_job
    from apps.training.models import TrainingJob
    from apps.training.watchdog import JobWatch, this_worker

    now = utc_now()
    claimed = TrainingJob.objects.filter(pk=job_id, status=TrainingJob.Status.QUEUED).update(
        status=TrainingJob.Status.RUNNING,
        started_at=now,
        heartbeat_at=now,
        worker=this_worker(),
        step=TrainingJob.Step.INITIALIZING,
        message="Initializing",
    )
    if not claimed:  # cancelled or deleted before it started, or already taken
        return "skipped"
    publish_job(job_id)
    job = TrainingJob.objects.get(pk=job_id)
    try:
        with JobWatch(job_id) as watch:
            runner.run_job(job, watch)
    except runner.JobCancelled:
        TrainingJob.objects.filter(pk=job_id).update(message="Cancelled", completed_at=utc_now())
        publish_job(job_id)
        return "cancelled"
    except Exception as exc:  # NaN loss, out of memory, bad data: the job says why
        if not TrainingJob.objects.filter(pk=job_id).exists():
            return "cancelled"  # deleted while running: its writes had nowhere to go
        logger.exception("training job %s failed", job_id)
        text = failure_message(exc)
        TrainingJob.objects.filter(pk=job_id).exclude(status=TrainingJob.Status.CANCELLED).update(
            status=TrainingJob.Status.FAILED,
            error_message=text[:5000],
            message="Failed",
            completed_at=utc_now(),
        )
        publish_job(job_id)
        return "failed"
    finished = TrainingJob.objects.filter(pk=job_id, status=TrainingJob.Status.RUNNING).update(
        status=TrainingJob.Status.COMPLETED,
        step=TrainingJob.Step.DONE,
        progress_percent=100.0,
        message="Done",
        completed_at=utc_now(),
    )
    publish_job(job_id)
    return "completed" if finished else "cancelled"
