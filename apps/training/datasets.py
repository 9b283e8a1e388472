"""Synthetic datasets: their artifact (stored, loaded) and their generation.

`dataset_generate` is the work of the `generate_dataset` task and of a job
that needs a dataset generated first; its status is written by
apps.training.lifecycle.
"""

import io
import logging

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.ml.bundles import read_verified, sha256
from apps.training import generator, lifecycle
from apps.training.models import SyntheticDataset

logger = logging.getLogger(__name__)


def dataset_store(*, dataset: SyntheticDataset, arrays: dict) -> None:
    """Write the arrays (one .npz) and set the dataset's artifact path and hash (unsaved)."""
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
    data = read_verified(dataset.artifact_path, dataset.artifact_sha256)
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


def _statistics(dataset_type: str, arrays: dict) -> dict:
    if dataset_type == SyntheticDataset.Type.SIGNALS:
        return {
            "classes": list(generator.SIGNAL_CLASSES),
            "per_class": np.bincount(
                arrays["labels"], minlength=len(generator.SIGNAL_CLASSES)
            ).tolist(),
        }
    counts = arrays["mask"].sum(axis=1)
    return {
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


def dataset_generate(*, dataset_id) -> str:
    """pending → generating (with progress) → ready, or failed with the reason.
    Returns the outcome ("ready", "failed", or "skipped" when not pending)."""
    if not lifecycle.dataset_claim(dataset_id):
        return "skipped"
    dataset = SyntheticDataset.objects.get(pk=dataset_id)
    params = dataset.parameters

    def progress(done: int) -> None:
        lifecycle.dataset_progress(dataset_id, done=done, total=dataset.num_samples)

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
        else:
            fields = generator.LocalizationParameters.__dataclass_fields__
            arrays = generator.generate_localization(
                generator.LocalizationParameters(
                    **{k: v for k, v in params.items() if k in fields},
                ),
                progress,
            )
        statistics = _statistics(dataset.dataset_type, arrays)
        dataset_store(dataset=dataset, arrays=arrays)
    except Exception as exc:
        logger.exception("dataset %s failed", dataset_id)
        lifecycle.dataset_failed(dataset_id, error=str(exc))
        return "failed"
    lifecycle.dataset_ready(dataset_id, statistics=statistics, artifact_path=dataset.artifact_path,
                            artifact_sha256=dataset.artifact_sha256)  # fmt: skip
    return "ready"
