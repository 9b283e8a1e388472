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

A bundle that fails its check is a 422 with the reason; so is saved validation that
cannot be read (an external trainer's metrics.json or performance_metrics that are not
a JSON object, a confusion matrix that is not a square table of counts, ...), which
the worker callback refuses in the first place.
"""

import json
import math

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


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _classifier_table(metrics: dict) -> tuple[list[str], list]:
    """The saved confusion matrix and its label names, or ValueError saying what is wrong
    (an external trainer's metrics.json or performance_metrics are not ours)."""
    matrix = metrics["confusion_matrix"]
    if not (
        isinstance(matrix, list)
        and matrix
        and all(
            isinstance(row, list)
            and len(row) == len(matrix)
            and all(_number(count) and count >= 0 for count in row)
            for row in matrix
        )
    ):
        raise ValueError("confusion_matrix must be a square table of counts")
    labels = metrics.get("classes") or [str(k) for k in range(len(matrix))]
    if not (
        isinstance(labels, list)
        and len(labels) == len(matrix)
        and all(isinstance(label, str) for label in labels)
    ):
        raise ValueError("classes must name each row of confusion_matrix")
    return labels, matrix


def _percentiles(metrics: dict) -> dict:
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
    if not isinstance(percentiles, dict) or not all(
        isinstance(row, dict) and all(v is None or _number(v) for v in row.values())
        for row in percentiles.values()
    ):
        raise ValueError("error_percentiles_m must map model, wls and crb to percentiles in m")
    return percentiles


def _saved_validation(model_type: str, metrics: dict) -> dict:
    if model_type == MLModel.Type.SIGNAL_CLASSIFICATION and "confusion_matrix" in metrics:
        labels, matrix = _classifier_table(metrics)
        return {
            **classification_report(labels, matrix),
            "accuracy_snr_ge_10db": metrics.get("accuracy_snr_ge_10db"),
        }
    if model_type == MLModel.Type.LOCALIZATION:
        percentiles = _percentiles(metrics)
        model_p50 = percentiles.get("model", {}).get("p50")
        wls_p50 = percentiles.get("wls", {}).get("p50")
        return {
            "error_percentiles_m": percentiles,
            "median_error_vs_wls": round(model_p50 / wls_p50, 3) if model_p50 and wls_p50 else None,
            "uncertainty_coverage": metrics.get("uncertainty_coverage"),
            "validation_samples": metrics.get("validation_samples"),
        }
    if model_type == MLModel.Type.ANOMALY_DETECTION:
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


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _saved_metrics(bundle: bundles.Bundle, fallback: dict) -> dict:
    """The bundle's metrics.json (a JSON object, finite numbers), else `fallback` (the
    registry's metrics); ValueError saying what is wrong."""
    saved = bundle.file("metrics.json")
    if saved is None:
        return fallback
    with default_storage.open(saved.path, "rb") as handle:
        try:
            metrics = json.loads(handle.read(), parse_constant=_refuse_constant)
        except ValueError as exc:
            raise ValueError(f"metrics.json is not JSON: {exc}") from None
    if not isinstance(metrics, dict):
        raise ValueError("metrics.json must be a JSON object")
    return metrics


def saved_validation_problem(model_type: str, bundle: bundles.Bundle, fallback: dict) -> str | None:
    """Why inspect could not read this bundle's saved validation (None when it can): the
    worker callback refuses such a report."""
    try:
        _saved_validation(model_type, _saved_metrics(bundle, fallback))
    except ValueError as exc:
        return f"saved validation not readable: {exc}"
    return None


def inspect_model(model: MLModel) -> dict:
    """`bundle_path`, `metadata`, `bundle_saved_validation`; InvalidBundle (422) if the
    bundle fails its check."""
    bundle, reason = bundles.model_bundle(model)
    if reason is not None:
        raise bundles.InvalidBundle(
            f"The model's bundle is not valid: {reason}", {"invalid_reason": reason}
        )
    try:
        metrics = _saved_metrics(bundle, model.metrics)
        validation = _saved_validation(model.model_type, metrics)
    except ValueError as exc:
        reason = f"saved validation not readable: {exc}"
        raise bundles.InvalidBundle(
            f"The model's bundle is not valid: {reason}", {"invalid_reason": reason}
        ) from None
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
        "bundle_saved_validation": validation,
    }
