"""`POST /api/v1/models/recommend`: an architecture for the data, by written rules.

The data analysed: a dataset (given, or the newest ready one of the model
type's kind), or a constellation's stations. Every candidate starts at 50;
the rules below add or subtract points (the reasoning lists the ones that
fired); scores are clamped to 0–100 and the highest wins (ties: the
smaller model).

Localization (`deepsets`, `set_transformer`):
- L1 samples < 5,000: deepsets +20, set_transformer −10 (attention overfits small sets)
- L2 5,000 ≤ samples < 20,000: deepsets +15, set_transformer +5
- L3 samples ≥ 20,000: set_transformer +20, deepsets +10
- L4 mean receivers per sample ≥ 6: set_transformer +15 (more receivers to relate)
- L5 mean receivers per sample < 5: deepsets +10
- L6 receiver count varies by ≥ 4 across samples: set_transformer +5
- L7 median SNR < 15 dB: set_transformer +5 (weak receivers need their neighbours)

Signal classification (`convnext_tiny`, `convnext_small`, `convnext_large`):
- C1 samples < 5,000: tiny +30, small +10, large −20
- C2 5,000 ≤ samples < 50,000: tiny +15, small +25, large 0
- C3 samples ≥ 50,000: tiny +5, small +15, large +30
- C4 smallest class < 50 samples: tiny +10, large −10 (imbalance: fewer parameters)
- C5 median SNR < 5 dB: small +5, large +5 (hard data: more capacity)
- C6 no training worker with a GPU: small −10, large −25 (CPU time)

Anomaly detection (`gaussian_mixture`, `isolation_forest`):
- A1 gaussian_mixture +35, isolation_forest −15: measured in docs/ml.md, the forest
  flagged none of the injected anomalies (it cannot extrapolate past the training range).
"""

import numpy as np

from apps.training.config import CLASSIFICATION_ARCHITECTURES, LOCALIZATION_ARCHITECTURES
from apps.training.models import SyntheticDataset
from apps.training.readiness import _arrays, _snr_summary, newest_ready

CANDIDATES = {
    "localization": LOCALIZATION_ARCHITECTURES,
    "signal_classification": CLASSIFICATION_ARCHITECTURES,
    "anomaly_detection": ("gaussian_mixture", "isolation_forest"),
}
DATASET_KIND = {"localization": "localization", "signal_classification": "signals"}


def analyse_dataset(dataset: SyntheticDataset) -> dict:
    """Sample count, receivers per sample, SNR distribution, class balance, area extent."""
    p = dataset.parameters
    analysis: dict = {
        "source": "dataset",
        "dataset_id": str(dataset.pk),
        "dataset_type": dataset.dataset_type,
        "sample_count": dataset.num_samples,
        "area_extent": None,
        "receivers_per_sample": None,
        "class_balance": None,
    }
    if dataset.dataset_type in (SyntheticDataset.Type.SIGNALS, SyntheticDataset.Type.RECORDINGS):
        arrays = _arrays(dataset, ("labels", "snr_db", "classes"))
        classes = [str(c) for c in arrays["classes"]]
        counts = np.bincount(arrays["labels"], minlength=len(classes))
        analysis["class_balance"] = {
            "per_class": {c: int(n) for c, n in zip(classes, counts, strict=True)},
            "min_class_count": int(counts.min()),
            "max_to_min_ratio": round(float(counts.max() / max(counts.min(), 1)), 2),
        }
        analysis["snr_db"] = _snr_summary(arrays["snr_db"].astype(float))
    else:
        arrays = _arrays(dataset, ("receivers", "mask"))
        per_sample = arrays["mask"].sum(1)
        analysis["receivers_per_sample"] = {
            "min": int(per_sample.min()),
            "max": int(per_sample.max()),
            "mean": round(float(per_sample.mean()), 2),
        }
        analysis["snr_db"] = _snr_summary(arrays["receivers"][..., 3][arrays["mask"]].astype(float))
        analysis["area_extent"] = _extent(
            p.get("area_lat_min"),
            p.get("area_lat_max"),
            p.get("area_lon_min"),
            p.get("area_lon_max"),
        )
    return analysis


def _extent(lat_min, lat_max, lon_min, lon_max) -> dict | None:
    if None in (lat_min, lat_max, lon_min, lon_max):
        return None
    from apps.radio.propagation import to_local_metres

    origin = ((lat_min + lat_max) / 2, (lon_min + lon_max) / 2)
    corner = to_local_metres(lat_max, lon_max, *origin) / 1000.0
    return {
        "lat_min": lat_min,
        "lat_max": lat_max,
        "lon_min": lon_min,
        "lon_max": lon_max,
        "width_km": round(2 * abs(float(corner[1])), 1),
        "height_km": round(2 * abs(float(corner[0])), 1),
    }


def analyse_constellation(constellation) -> dict:
    stations = list(
        constellation.members.select_related("station").values_list(
            "station__latitude", "station__longitude"
        )
    )
    lats = [s[0] for s in stations]
    lons = [s[1] for s in stations]
    return {
        "source": "constellation",
        "constellation_id": str(constellation.pk),
        "sample_count": None,
        "receivers_per_sample": {
            "min": len(stations),
            "max": len(stations),
            "mean": float(len(stations)),
        },
        "snr_db": None,
        "class_balance": None,
        "area_extent": _extent(min(lats), max(lats), min(lons), max(lons)) if stations else None,
    }


def score(model_type: str, analysis: dict, *, gpu: bool) -> dict:
    """Scores per candidate, the rules that fired, the winner."""
    scores = {name: 50 for name in CANDIDATES[model_type]}
    fired: list[str] = []

    def rule(code: str, text: str, **points):
        fired.append(f"{code}: {text}")
        for name, value in points.items():
            scores[name] += value

    n = analysis.get("sample_count")
    snr = (analysis.get("snr_db") or {}).get("median")
    if model_type == "localization":
        receivers = analysis.get("receivers_per_sample") or {}
        if n is not None:
            if n < 5_000:
                rule("L1", f"{n:,} samples (< 5,000)", deepsets=20, set_transformer=-10)
            elif n < 20_000:
                rule("L2", f"{n:,} samples (5,000–20,000)", deepsets=15, set_transformer=5)
            else:
                rule("L3", f"{n:,} samples (≥ 20,000)", set_transformer=20, deepsets=10)
        mean = receivers.get("mean")
        if mean is not None and mean >= 6:
            rule("L4", f"{mean:g} receivers per sample on average (≥ 6)", set_transformer=15)
        elif mean is not None and mean < 5:
            rule("L5", f"{mean:g} receivers per sample on average (< 5)", deepsets=10)
        if receivers and receivers["max"] - receivers["min"] >= 4:
            rule(
                "L6",
                f"receiver count varies from {receivers['min']} to {receivers['max']}",
                set_transformer=5,
            )
        if snr is not None and snr < 15:
            rule("L7", f"median SNR {snr:g} dB (< 15)", set_transformer=5)
    elif model_type == "signal_classification":
        if n is not None:
            if n < 5_000:
                rule(
                    "C1",
                    f"{n:,} clips (< 5,000)",
                    convnext_tiny=30,
                    convnext_small=10,
                    convnext_large=-20,
                )
            elif n < 50_000:
                rule("C2", f"{n:,} clips (5,000–50,000)", convnext_tiny=15, convnext_small=25)
            else:
                rule(
                    "C3",
                    f"{n:,} clips (≥ 50,000)",
                    convnext_tiny=5,
                    convnext_small=15,
                    convnext_large=30,
                )
        balance = analysis.get("class_balance") or {}
        if balance and balance["min_class_count"] < 50:
            rule(
                "C4",
                f"smallest class has {balance['min_class_count']} clips (< 50)",
                convnext_tiny=10,
                convnext_large=-10,
            )
        if snr is not None and snr < 5:
            rule("C5", f"median SNR {snr:g} dB (< 5)", convnext_small=5, convnext_large=5)
        if not gpu:
            rule("C6", "no training worker has a GPU", convnext_small=-10, convnext_large=-25)
    else:
        rule(
            "A1",
            "measured: an isolation forest cannot extrapolate past the training range (docs/ml.md)",
            gaussian_mixture=35,
            isolation_forest=-15,
        )
    scores = {name: max(0, min(100, value)) for name, value in scores.items()}
    order = list(CANDIDATES[model_type])  # smaller first: ties go to the smaller model
    best = max(order, key=lambda name: (scores[name], -order.index(name)))
    return {"architecture": best, "score": scores[best], "all_scores": scores, "rules": fired}


def recommend(
    *, model_type: str | None, dataset: SyntheticDataset | None, constellation=None, gpu: bool
) -> dict:
    """The recommendation for the data: seed 003's shape plus the rules that fired."""
    if dataset is not None:
        kind = {"signals": "signal_classification", "recordings": "signal_classification"}.get(
            dataset.dataset_type, "localization"
        )
        model_type = model_type or kind
    model_type = model_type or "localization"
    if dataset is None and constellation is None and model_type in DATASET_KIND:
        dataset = newest_ready(DATASET_KIND[model_type])
    if dataset is not None:
        analysis = analyse_dataset(dataset)
    elif constellation is not None:
        analysis = analyse_constellation(constellation)
    else:
        analysis = {
            "source": "none",
            "sample_count": None,
            "receivers_per_sample": None,
            "snr_db": None,
            "class_balance": None,
            "area_extent": None,
        }
    result = score(model_type, analysis, gpu=gpu)
    reasoning = "; ".join(result["rules"]) or "no data to analyse: every candidate scores 50"
    return {
        "model_type": model_type,
        "architecture": result["architecture"],
        "recommended": result["architecture"],
        "score": result["score"],
        "reasoning": f"{result['architecture']} scores {result['score']}: {reasoning}",
        "rules": result["rules"],
        "all_scores": result["all_scores"],
        "data_analysis": analysis,
    }
