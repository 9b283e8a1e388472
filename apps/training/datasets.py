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


def recordings_arrays(params: dict, progress) -> dict:
    """A `recordings` dataset: segments of the labelled recording clips that
    `params` select (apps.recordings.selectors.training_clips: `only_approved`,
    `min_snr_db`, `labels`, `recording_ids`), `clip_samples` long at the simulator's rate
    (apps.recordings.clips.clip_segments), each with its clip's label and SNR; mixed with
    `synthetic_samples` synthetic clips (generator.generate_signals) when asked.

    Arrays: clips [N, clip_samples] complex64, labels [N] (indices into classes), snr_db
    [N], classes (the recordings' labels, then the simulator's classes when mixed),
    approved [N] bool, source [N] (0 recording, 1 synthetic), clip_ids [N] (str; "" for
    synthetic)."""
    from apps.radio.simulation import SAMPLE_RATE
    from apps.recordings import clips as clip_math
    from apps.recordings import selectors as recording_selectors
    from apps.recordings.services import local_data
    from apps.recordings.sigmf_files import info_from_stored

    selected = list(
        recording_selectors.training_clips(
            only_approved=params["only_approved"],
            min_snr_db=params["min_snr_db"],
            labels=params.get("labels") or None,
            recording_ids=params.get("recording_ids") or None,
        )
    )
    synthetic = params.get("synthetic_samples", 0)
    parts, labels, snrs, approved, clip_ids = [], [], [], [], []
    by_recording: dict = {}
    for clip in selected:
        by_recording.setdefault(clip.recording_id, []).append(clip)
    done = short = 0
    for clips in by_recording.values():
        recording = clips[0].recording
        info = info_from_stored(recording.meta, recording.sample_count)
        with local_data(recording) as path:
            for clip in clips:
                segments = clip_math.clip_segments(
                    path, info, sample_start=clip.sample_start, sample_count=clip.sample_count,
                    freq_lower_edge=clip.freq_lower_edge, freq_upper_edge=clip.freq_upper_edge,
                    target_rate=SAMPLE_RATE, clip_samples=params["clip_samples"],
                    max_segments=params["max_segments_per_clip"],
                )  # fmt: skip
                short += not len(segments)  # shorter than one segment: counted, not hidden
                parts.append(segments)
                labels += [clip.label] * len(segments)
                snrs += [clip.snr_db] * len(segments)
                approved += [clip.approved] * len(segments)
                clip_ids += [str(clip.pk)] * len(segments)
                done += 1
                progress(done)
    classes = sorted(set(labels))
    source = [0] * len(labels)
    if synthetic:
        mixed = generator.generate_signals(
            num_samples=synthetic, seed=params.get("receiver_seed"),
            snr_min_db=params["snr_min_db"], snr_max_db=params["snr_max_db"],
            clip_samples=params["clip_samples"], progress=lambda n: progress(len(selected) + n),
        )  # fmt: skip
        classes += [c for c in generator.SIGNAL_CLASSES if c not in classes]
        parts.append(mixed["clips"])
        labels += [generator.SIGNAL_CLASSES[k] for k in mixed["labels"]]
        snrs += mixed["snr_db"].tolist()
        approved += [True] * synthetic  # the simulator's labels are ground truth
        clip_ids += [""] * synthetic
        source += [1] * synthetic
    if not labels:
        too_short = (
            f"; {short} of the {len(selected)} selected clips are shorter than one "
            f"clip_samples ({params['clip_samples']}) segment at {SAMPLE_RATE} Hz: lower "
            "clip_samples"
            if short
            else ""
        )
        raise generator.GenerationError(
            "no labelled clip segments: approve clips (PATCH /api/v1/recordings/{id}/annotations/"
            "{clip_id} with approved: true), lower min_snr_db, or mix synthetic_samples in"
            + too_short
        )
    index = {name: k for k, name in enumerate(classes)}
    return {
        "clips": np.concatenate(parts).astype(np.complex64),
        "labels": np.array([index[name] for name in labels], dtype=np.int64),
        "snr_db": np.array(snrs, dtype=np.float32),
        "classes": np.array(classes),
        "approved": np.array(approved, dtype=bool),
        "source": np.array(source, dtype=np.int8),
        "clip_ids": np.array(clip_ids),
        # not stored: dataset_generate moves it into the statistics
        "short_clips": np.array(short),
    }


def _statistics(dataset_type: str, arrays: dict) -> dict:
    if dataset_type == SyntheticDataset.Type.RECORDINGS:
        classes = [str(c) for c in arrays["classes"]]
        counts = np.bincount(arrays["labels"], minlength=len(classes)).tolist()
        from_recordings = arrays["source"] == 0
        return {
            "classes": classes,
            "per_class": counts,
            "recording_segments": int(from_recordings.sum()),
            "recording_clips": len({c for c in arrays["clip_ids"].tolist() if c}),
            # selected clips shorter than one segment: they gave no segment
            "short_clips": int(arrays.get("short_clips", 0)),
            "synthetic_samples": int((~from_recordings).sum()),
        }
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
        if dataset.dataset_type == SyntheticDataset.Type.RECORDINGS:
            arrays = recordings_arrays(params, progress)
        elif dataset.dataset_type == SyntheticDataset.Type.SIGNALS:
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
        arrays.pop("short_clips", None)
        dataset_store(dataset=dataset, arrays=arrays)
    except Exception as exc:
        logger.exception("dataset %s failed", dataset_id)
        lifecycle.dataset_failed(dataset_id, error=str(exc))
        return "failed"
    counted = len(arrays["labels"]) if "labels" in arrays else None
    lifecycle.dataset_ready(
        dataset_id,
        statistics=statistics,
        artifact_path=dataset.artifact_path,
        artifact_sha256=dataset.artifact_sha256,
        num_samples=counted,
    )
    return "ready"
