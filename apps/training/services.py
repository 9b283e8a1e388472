"""Writes for synthetic datasets."""

import io

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from apps.core.exceptions import Conflict
from apps.core.tasks import dispatch
from apps.ml.bundles import sha256
from apps.training.models import SyntheticDataset


@transaction.atomic
def dataset_request(*, user, name: str, description: str, dataset_type: str,
                    parameters: dict) -> SyntheticDataset:  # fmt: skip
    """Record the dataset as pending and queue its generation after commit."""
    dataset = SyntheticDataset.objects.create(
        name=name,
        description=description,
        dataset_type=dataset_type,
        parameters=parameters,
        num_samples=parameters["num_samples"],
        created_by=user,
        message="Queued",
    )
    dispatch("apps.training.tasks.generate_dataset", str(dataset.pk))
    return dataset


def dataset_store(*, dataset: SyntheticDataset, arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    data = buffer.getvalue()
    path = f"datasets/{dataset.pk}/data.npz"
    if default_storage.exists(path):
        default_storage.delete(path)
    dataset.artifact_path = default_storage.save(path, ContentFile(data))
    dataset.artifact_sha256 = sha256(data)


def dataset_load(dataset: SyntheticDataset) -> dict:
    """The dataset's arrays (plain arrays only: allow_pickle=False)."""
    from apps.ml.bundles import read_verified

    data = read_verified(dataset.artifact_path, dataset.artifact_sha256)
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


@transaction.atomic
def dataset_delete(*, dataset: SyntheticDataset) -> None:
    if dataset.status == SyntheticDataset.Status.GENERATING:
        raise Conflict("The dataset is being generated; delete it once it is ready or failed.")
    path = dataset.artifact_path
    dataset.delete()
    if path:
        transaction.on_commit(lambda: default_storage.delete(path))


TERMINAL = ("completed", "failed", "cancelled")


@transaction.atomic
def job_create(*, user, job_name: str, config: dict):
    """A queued job; its task goes to the training cluster after commit."""
    import uuid

    from apps.training.models import TrainingJob

    dataset = None
    if config.get("dataset_id"):
        dataset = SyntheticDataset.objects.filter(pk=config["dataset_id"]).first()
        if dataset is None:
            from apps.core.exceptions import ValidationFailed

            raise ValidationFailed.for_field(
                "config.dataset_id", "unknown dataset", str(config["dataset_id"])
            )
        from apps.training.config import is_localization

        wanted = "localization" if is_localization(config["model_architecture"]) else "signals"
        if dataset.dataset_type != wanted or dataset.status == SyntheticDataset.Status.FAILED:
            from apps.core.exceptions import ValidationFailed

            raise ValidationFailed.for_field(
                "config.dataset_id",
                f"{config['model_architecture']} needs a {wanted} dataset that has not failed; "
                f"this one is a {dataset.status} {dataset.dataset_type} dataset",
                str(dataset.pk),
            )
        config = {**config, "dataset_id": str(dataset.pk)}
    task_id = str(uuid.uuid4())
    job = TrainingJob.objects.create(
        job_name=job_name,
        config=config,
        dataset=dataset,
        total_epochs=config["epochs"],
        model_architecture=config["model_architecture"],
        status=TrainingJob.Status.QUEUED,
        celery_task_id=task_id,
        message="Queued",
        created_by=user,
    )
    dispatch("apps.training.tasks.run_training_job", str(job.pk), cluster="training")
    return job


def job_cancel(*, job):
    """Stop a job and keep its data; the worker notices within one batch."""
    from apps.training.models import TrainingJob

    if job.status in TERMINAL:
        raise Conflict(f"The job is already {job.status}.", {"status": job.status})
    from apps.training.live import publish_job

    TrainingJob.objects.filter(pk=job.pk).exclude(status__in=TERMINAL).update(
        status=TrainingJob.Status.CANCELLED, message="Cancelling"
    )
    publish_job(job.pk)
    job.refresh_from_db()
    return job


@transaction.atomic
def job_delete(*, job) -> None:
    """Cancel if running, then delete the job and its metrics."""
    from apps.training.models import TrainingJob

    TrainingJob.objects.filter(pk=job.pk).exclude(status__in=TERMINAL).update(
        status=TrainingJob.Status.CANCELLED
    )
    job.delete()
