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
