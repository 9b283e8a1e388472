"""Background work of the training app (django-q2 workers, or in-process embedded):
each task fetches what it is given and calls the service that does the work."""

from apps.training.datasets import dataset_generate
from apps.training.lifecycle import failure_message  # noqa: F401  (the tests' entry point)


def generate_dataset(dataset_id: str) -> str:
    """pending → generating → ready | failed (apps.training.datasets.dataset_generate)."""
    return dataset_generate(dataset_id=dataset_id)


def run_training_job(job_id: str) -> str:
    """queued → running → completed | failed | cancelled, in this worker; "skipped" when
    the job is no longer queued (cancelled, deleted, or taken: tasks are idempotent)."""
    from apps.training.lifecycle import JobRunner
    from apps.training.runner import run_job

    runner = JobRunner.claim(job_id)
    if runner is None:
        return "skipped"
    return runner.run(run_job)
