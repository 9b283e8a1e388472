"""Background work of the training app (django-q2 workers, or in-process embedded):
each task fetches what it is given and calls the service that does the work."""

from datetime import timedelta

from apps.training.datasets import dataset_generate
from apps.training.lifecycle import failure_message  # noqa: F401  (the tests' entry point)


def generate_dataset(dataset_id: str) -> str:
    """pending → generating → ready | failed (apps.training.datasets.dataset_generate)."""
    return dataset_generate(dataset_id=dataset_id)


def fail_stale_datasets() -> int:
    """Periodic: generating datasets without progress (lifecycle.DATASET_STALE_AFTER)."""
    from apps.training.lifecycle import datasets_fail_stale

    return datasets_fail_stale()


def run_training_job(job_id: str) -> str:
    """queued → running → completed | failed | cancelled, in this worker; "skipped" when
    the job is no longer queued (cancelled, deleted, or taken: tasks are idempotent)."""
    from apps.training.lifecycle import JobRunner
    from apps.training.runner import run_job

    runner = JobRunner.claim(job_id)
    if runner is None:
        return "skipped"
    return runner.run(run_job)


def retrain_anomaly_model() -> str:
    """Periodic (HEIMDALL_ANOMALY_RETRAIN_MINUTES): queue a `context_density` job that
    deploys its model only if it beats the active one on held-out days; "busy" while one
    is still queued or running; "not enough data" (and no job) with fewer than
    apps.training.anomaly.MIN_DETECTIONS detections in the learning window."""
    from django.conf import settings

    from apps.core.timeutil import utc_now
    from apps.signals.selectors import detections_at_least
    from apps.training.anomaly import MIN_DETECTIONS
    from apps.training.config import resolve_config
    from apps.training.models import TrainingJob
    from apps.training.services import job_create

    # A fresh install (or a quiet one) has nothing to learn from: no job, rather than a
    # failed one in every operator's job list each day.
    until = utc_now()
    since = until - timedelta(days=settings.HEIMDALL_ANOMALY_HISTORY_DAYS)
    if not detections_at_least(since=since, until=until, count=MIN_DETECTIONS):
        return "not enough data"
    unfinished = (TrainingJob.Status.PENDING, TrainingJob.Status.QUEUED, TrainingJob.Status.RUNNING)
    if TrainingJob.objects.filter(
        model_architecture="context_density", status__in=unfinished
    ).exists():
        return "busy"
    job = job_create(
        user=None,
        job_name="Scheduled anomaly model retraining",
        config=resolve_config({"model_architecture": "context_density", "epochs": 1}),
        auto_activate=True,
    )
    return str(job.pk)
