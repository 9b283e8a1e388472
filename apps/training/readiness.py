"""Data readiness (seed 001's data-check): what a job with a given config would train on.

Counted exactly as the pipelines select samples: a classification clip is
trainable when its SNR reaches `min_snr_db` (NOISE clips always are); a
localization sample when at least three of its receivers reach it. Only the
small arrays of the dataset are read (labels and SNR, or receivers and mask),
never the I/Q clips; results are cached per dataset file and threshold.

Problems (the list a client shows before it offers "Train"):

- `no samples at min_snr_db X` — nothing is trainable;
- `only N trainable samples: a job needs at least 2` — nothing to validate on;
- `class FSK has 3 samples` — a class under MIN_PER_CLASS trainable clips
  (`class FSK has no samples` when none);
- `dataset … is generating/failed/pending` — not ready.
"""

import logging

import numpy as np
from django.core.cache import cache
from django.core.files.storage import default_storage

from apps.ml.bundles import BundleCorrupt
from apps.training.config import dataset_type_for, dataset_types_for
from apps.training.models import SyntheticDataset
from apps.training.selection import MIN_RECEIVERS, heard_mask, trainable_clips

logger = logging.getLogger(__name__)

MIN_PER_CLASS = 10


def _snr_summary(values: np.ndarray) -> dict:
    values = values[np.isfinite(values)]
    if not len(values):
        return {"count": 0}
    edges = list(range(-30, 65, 5))
    counts, _ = np.histogram(np.clip(values, -30, 59.999), bins=edges)
    return {
        "count": len(values),
        "min": round(float(values.min()), 1),
        "p10": round(float(np.quantile(values, 0.1)), 1),
        "median": round(float(np.median(values)), 1),
        "p90": round(float(np.quantile(values, 0.9)), 1),
        "max": round(float(values.max()), 1),
        "histogram": {"bin_edges_db": edges, "counts": counts.tolist()},
    }


def _arrays(dataset: SyntheticDataset, names: tuple[str, ...]) -> dict:
    with (
        default_storage.open(dataset.artifact_path, "rb") as handle,
        np.load(handle, allow_pickle=False) as arrays,
    ):
        return {name: arrays[name] for name in names}


def _analyse(
    dataset: SyntheticDataset, min_snr_db: float, validation_split: float, only_approved: bool
) -> dict:
    report: dict = {"total_samples": dataset.num_samples}
    problems = []
    if dataset.dataset_type in (SyntheticDataset.Type.SIGNALS, SyntheticDataset.Type.RECORDINGS):
        recordings = dataset.dataset_type == SyntheticDataset.Type.RECORDINGS
        names = ("labels", "snr_db", "classes") + (("approved", "source") if recordings else ())
        arrays = _arrays(dataset, names)
        classes = [str(c) for c in arrays["classes"]]
        keep = trainable_clips(arrays["labels"], arrays["snr_db"], classes, min_snr_db,
                               arrays.get("approved") if only_approved else None)  # fmt: skip
        if recordings:  # where the trainable clips come from: recordings or the simulator
            sources = arrays["source"][keep]
            report["per_source"] = {
                "recording": int((sources == 0).sum()),
                "synthetic": int((sources == 1).sum()),
            }
        counts = np.bincount(arrays["labels"][keep], minlength=len(classes))
        report |= {
            "trainable_samples": len(keep),
            "trainable_labels": [c for c, n in zip(classes, counts, strict=True) if n],
            "per_class": {c: int(n) for c, n in zip(classes, counts, strict=True)},
            "per_class_total": {
                c: int(n)
                for c, n in zip(
                    classes, np.bincount(arrays["labels"], minlength=len(classes)), strict=True
                )
            },
            "snr_db": _snr_summary(arrays["snr_db"].astype(float)),
        }
        if len(keep):
            for name, count in report["per_class"].items():
                if count == 0:
                    problems.append(f"class {name} has no samples")
                elif count < MIN_PER_CLASS:
                    problems.append(f"class {name} has {count} samples")
    else:
        arrays = _arrays(dataset, ("receivers", "mask"))
        heard = heard_mask(arrays, min_snr_db)
        per_sample = heard.sum(1)
        keep = np.flatnonzero(per_sample >= MIN_RECEIVERS)
        snr = arrays["receivers"][..., 3][arrays["mask"]].astype(float)
        report |= {
            "trainable_samples": len(keep),
            "trainable_labels": [],
            "per_class": None,
            "receivers_per_sample": {
                "min": int(per_sample[keep].min()) if len(keep) else 0,
                "max": int(per_sample[keep].max()) if len(keep) else 0,
                "mean": round(float(per_sample[keep].mean()), 2) if len(keep) else 0.0,
            },
            "receivers_below_min_snr": int(arrays["mask"].sum() - heard.sum()),
            "snr_db": _snr_summary(snr),
        }
    trainable = report["trainable_samples"]
    if trainable == 0:
        problems.insert(0, f"no samples at min_snr_db {min_snr_db:g}")
    elif trainable < 2:
        problems.insert(0, f"only {trainable} trainable samples: a job needs at least 2")
    n_val = max(1, int(trainable * validation_split)) if trainable > 1 else 0
    report |= {"train_samples": trainable - n_val, "val_samples": n_val, "problems": problems}
    return report


def data_check(
    *,
    dataset: SyntheticDataset | None,
    architecture: str,
    min_snr_db: float,
    validation_split: float = 0.2,
    only_approved: bool = True,
) -> dict:
    """Seed 001's data-check for `dataset` as a job with these settings would use it
    (`only_approved`: a recordings dataset's unapproved clips are left out)."""
    wanted = dataset_type_for(architecture)
    base = {
        "dataset_id": str(dataset.pk) if dataset else None,
        "dataset_type": dataset.dataset_type if dataset else wanted,
        "model_architecture": architecture,
        "min_snr_db": min_snr_db,
    }
    empty = {
        "total_samples": 0,
        "trainable_samples": 0,
        "trainable_labels": [],
        "per_class": None,
        "train_samples": 0,
        "val_samples": 0,
    }
    if dataset is None:
        return (
            base
            | empty
            | {
                "problems": [
                    f"no ready {wanted} dataset: generate one (POST "
                    "/api/v1/training/synthetic/generate) or let the job generate one"
                ]
            }
        )
    if dataset.dataset_type not in dataset_types_for(architecture):
        return (
            base
            | empty
            | {
                "total_samples": dataset.num_samples,
                "problems": [
                    f"{architecture} trains on {wanted} datasets; "
                    f"this one is {dataset.dataset_type}"
                ],
            }
        )
    if dataset.status != SyntheticDataset.Status.READY:
        return (
            base
            | empty
            | {
                "total_samples": dataset.num_samples,
                "problems": [f"dataset {dataset.pk} is {dataset.status}"],
            }
        )
    key = (
        f"training:data-check:{dataset.artifact_sha256}:{min_snr_db}:{validation_split}:"
        f"{only_approved}"
    )
    report = cache.get(key)
    if report is None:
        try:
            report = _analyse(dataset, min_snr_db, validation_split, only_approved)
        except (OSError, BundleCorrupt, ValueError, KeyError) as exc:
            # A ready dataset whose file is gone or altered: nothing to train on.
            logger.warning("data-check: dataset %s unreadable: %s", dataset.pk, exc)
            return (
                base
                | empty
                | {
                    "problems": [
                        f"dataset {dataset.pk}'s file is missing or does not match its "
                        "recorded hash: generate it again"
                    ],
                }
            )
        cache.set(key, report, 3600)
    return base | report


def newest_ready(dataset_type: str) -> SyntheticDataset | None:
    return (
        SyntheticDataset.objects.filter(
            status=SyntheticDataset.Status.READY, dataset_type=dataset_type
        )
        .order_by("-created_at")
        .first()
    )
