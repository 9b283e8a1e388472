"""Training the default anomaly model on simulated traffic (issue: a fresh install scores)."""

import numpy as np

from apps.ml import density
from apps.radio import dsp, simulation


def carrier_features(carrier: dsp.Carrier) -> dict:
    """The anomaly model's inputs for one detected carrier (the seed's predict features)."""
    return {
        "spectral_centroid": carrier.offset_hz,
        "bandwidth": carrier.bandwidth_hz,
        "snr_estimate": carrier.snr_db,
        "signal_power": carrier.strength_db,
    }


def simulated_features(
    *, chunks: int, seed: int, anomaly_every: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Features of carriers detected in simulated chunks, and whether each was injected."""
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    centers = [3_650_000, 7_100_000, 14_200_000, 21_200_000, 145_000_000, 433_000_000]
    activity = None
    for index in range(chunks):
        if index % 3 == 0:  # a new band and new transmitters every few chunks
            activity = simulation.BandActivity.random(int(rng.choice(centers)), rng)
        injected = None
        if anomaly_every and index % anomaly_every == 0:
            kind = simulation.ANOMALY_KINDS[int(rng.integers(0, 2))]  # the feature-visible kinds
            injected = simulation.inject_anomaly(activity, kind)
        samples = simulation.synthesize(activity)
        _, carriers = dsp.analyze(
            samples, sample_rate=simulation.SAMPLE_RATE, center_frequency=0, fft_size=512
        )
        for carrier in carriers:
            rows.append(carrier_features(carrier))
            labels.append(
                injected is not None and abs(carrier.offset_hz - injected.offset_hz) < 1500
            )
        if injected is not None:
            activity.emitters.remove(injected)
    matrix, _ = density.feature_matrix(rows)
    return matrix, np.array(labels, dtype=bool)


def train_default(*, seed: int = 42, chunks: int = 900):
    """(model, metrics) for the default anomaly model."""
    normal, _ = simulated_features(chunks=chunks, seed=seed)
    model, _ = density.fit(normal, seed=seed)
    features, labels = simulated_features(chunks=chunks // 3, seed=seed + 1, anomaly_every=10)
    scores, predicted, _ = model.score(features)
    true_positive = int((predicted & labels).sum())
    false_positive = int((predicted & ~labels).sum())
    false_negative = int((~predicted & labels).sum())
    precision = true_positive / max(true_positive + false_positive, 1)
    recall = true_positive / max(true_positive + false_negative, 1)
    metrics = {
        "accuracy": round(float((predicted == labels).mean()), 4),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1_score": round(2 * precision * recall / max(precision + recall, 1e-9), 4),
        "training_samples": len(normal),
        "validation_samples": len(labels),
        "validation_anomalies": int(labels.sum()),
        "threshold": 0.5,
        "score_histogram": score_histogram(scores, labels),
    }
    return model, metrics


def score_histogram(scores: np.ndarray, labels: np.ndarray, bins: int = 20) -> dict:
    """Counts of validation scores in `bins` equal bins over [0, 1], normal and anomalous."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    return {
        "bin_edges": [round(float(e), 3) for e in edges],
        "normal": np.histogram(scores[~labels], bins=edges)[0].tolist(),
        "anomalous": np.histogram(scores[labels], bins=edges)[0].tolist(),
    }
