"""Seed 001's inspect: a bundle's saved validation, read back and derived.

- classifiers: `label_names`, `confusion_matrix` (rows: true label, columns:
  predicted), `per_class` precision, recall, F1 and support, `macro_f1`,
  `weighted_f1` (by support), `accuracy`, `top_confusion_pairs` (the largest
  off-diagonal cells);
- localization: error percentiles (p50/p68/p90/p95, metres) of the model
  beside WLS and the Cramér–Rao bound on the same validation samples, and the
  uncertainty coverage (share of errors inside the CEP50 and 95 % circles the
  model's own sigma draws; 0.5 and 0.95 when calibrated);
- anomaly models: precision, recall and F1 at the threshold, and the score
  histogram of normal and anomalous validation traffic.

A bundle that fails its check is a 422 with the reason.
"""

import json

import numpy as np
from django.core.files.storage import default_storage

from apps.core.timeutil import isoformat_z
from apps.ml import bundles
from apps.ml.models import MLModel


def classification_report(labels: list[str], confusion) -> dict:
    matrix = np.asarray(confusion, dtype=float)
    true_counts, predicted_counts = matrix.sum(1), matrix.sum(0)
    diagonal = np.diag(matrix)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted_counts > 0, diagonal / predicted_counts, 0.0)
        recall = np.where(true_counts > 0, diagonal / true_counts, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    support = true_counts.astype(int)
    total = int(support.sum())
    pairs = [
        {"true_label": labels[i], "pred_label": labels[j], "count": int(matrix[i, j])}
        for i in range(len(labels))
        for j in range(len(labels))
        if i != j and matrix[i, j] > 0
    ]
    pairs.sort(key=lambda pair: (-pair["count"], pair["true_label"], pair["pred_label"]))
    present = support > 0
    return {
        "label_names": labels,
        "confusion_matrix": matrix.astype(int).tolist(),
        "per_class": {
            name: {
                "precision": round(float(precision[k]), 4),
                "recall": round(float(recall[k]), 4),
                "f1": round(float(f1[k]), 4),
                "support": int(support[k]),
            }
            for k, name in enumerate(labels)
        },
        "accuracy": round(float(diagonal.sum() / total), 4) if total else None,
        "macro_f1": round(float(f1[present].mean()), 4) if present.any() else None,
        "weighted_f1": round(float((f1 * support).sum() / total), 4) if total else None,
        "top_confusion_pairs": pairs[:5],
        "samples": total,
    }


def _saved_validation(model: MLModel, metrics: dict) -> dict:
    if model.model_type == MLModel.Type.SIGNAL_CLASSIFICATION and "confusion_matrix" in metrics:
        labels = metrics.get("classes") or [str(k) for k in range(len(metrics["confusion_matrix"]))]
        return {
            **classification_report(labels, metrics["confusion_matrix"]),
            "accuracy_snr_ge_10db": metrics.get("accuracy_snr_ge_10db"),
        }
    if model.model_type == MLModel.Type.LOCALIZATION:
        percentiles = metrics.get("error_percentiles_m") or {
            "model": {
                "p50": metrics.get("model_median_error_m"),
                "p90": metrics.get("model_p90_error_m"),
            },
            "wls": {
                "p50": metrics.get("wls_median_error_m"),
                "p90": metrics.get("wls_p90_error_m"),
            },
            "crb": {"p50": metrics.get("crb_median_m"), "p90": metrics.get("crb_p90_m")},
        }
        model_p50, wls_p50 = percentiles["model"].get("p50"), percentiles["wls"].get("p50")
        return {
            "error_percentiles_m": percentiles,
            "median_error_vs_wls": round(model_p50 / wls_p50, 3) if model_p50 and wls_p50 else None,
            "uncertainty_coverage": metrics.get("uncertainty_coverage"),
            "validation_samples": metrics.get("validation_samples"),
        }
    if model.model_type == MLModel.Type.ANOMALY_DETECTION:
        return {
            "threshold": metrics.get("threshold", 0.5),
            "precision": metrics.get("precision"),
            "recall": metrics.get("recall"),
            "f1": metrics.get("f1_score"),
            "accuracy": metrics.get("accuracy"),
            "score_histogram": metrics.get("score_histogram"),
            "validation_samples": metrics.get("validation_samples"),
        }
    return dict(metrics)


def inspect_model(model: MLModel) -> dict:
    """`bundle_path`, `metadata`, `bundle_saved_validation`; InvalidBundle (422) if the
    bundle fails its check."""
    bundle, reason = bundles.model_bundle(model)
    if reason is not None:
        raise bundles.InvalidBundle(
            f"The model's bundle is not valid: {reason}", {"invalid_reason": reason}
        )
    saved = bundle.file("metrics.json")
    metrics = model.metrics
    if saved is not None:
        with default_storage.open(saved.path, "rb") as handle:
            metrics = json.loads(handle.read())
    return {
        "model_id": str(model.pk),
        "bundle_path": bundle.folder,
        "metadata": {
            "name": model.name,
            "version": model.version,
            "model_type": model.model_type,
            "architecture": model.architecture or bundle.manifest.get("architecture"),
            "status": model.status,
            "created_at": isoformat_z(model.created_at),
            "last_training_date": isoformat_z(model.last_training_date)
            if model.last_training_date
            else None,
            "weights_precision": metrics.get("weights_precision"),
            "config": bundle.manifest.get("config", model.config),
            "files": {f.name: {"sha256": f.sha256} for f in bundle.files},
        },
        "bundle_saved_validation": _saved_validation(model, metrics),
    }
