"""The live anomaly scorer: the deployed model, reloaded when another is activated
(apps.ml.active: within about a second, in every process, without a restart).
"""

from dataclasses import dataclass
from typing import Protocol

from apps.ml import bundles, density
from apps.ml.active import ActiveModel, forget_loaded_models
from apps.ml.models import MLModel


@dataclass(frozen=True)
class Score:
    """One detection's anomaly score in [0, 1], the model's verdict and its confidence."""

    anomaly_score: float
    is_anomaly: bool
    confidence: float


class Scorer(Protocol):
    """What ingest and analyze need of the active anomaly model."""

    version: str

    def score_features(self, rows: list[dict]) -> list[Score | None]:
        """A Score per row of predict features (seed 004 predict), None where one is missing."""
        ...

    def score_rows(self, rows: list[dict]) -> list[Score | None]:
        """A Score per detection row as ingested (features plus signal_strength_db)."""
        ...


@dataclass
class AnomalyScorer:
    model_id: str
    version: str
    model: density.GaussianMixtureModel

    def score_features(self, rows: list[dict]) -> list[Score | None]:
        """A Score per row of predict features, None where a feature is missing."""
        matrix, complete = density.feature_matrix(rows)
        results: list[Score | None] = [None] * len(rows)
        if complete.any():
            scores, flags, confidence = self.model.score(matrix[complete])
            for slot, index in enumerate(complete.nonzero()[0]):
                results[index] = Score(
                    anomaly_score=round(float(scores[slot]), 4),
                    is_anomaly=bool(flags[slot]),
                    confidence=round(float(confidence[slot]), 4),
                )
        return results

    def score_rows(self, rows: list[dict]) -> list[Score | None]:
        """Detections as ingested: features from signal_features, power from the strength."""
        return self.score_features(
            [
                {"signal_power": row["signal_strength_db"], **(row.get("signal_features") or {})}
                for row in rows
            ]
        )


def load_scorer(model: MLModel) -> AnomalyScorer:
    data = bundles.read_verified(model.artifact_path, model.artifact_sha256)
    return AnomalyScorer(
        model_id=str(model.pk),
        version=model.version,
        model=density.GaussianMixtureModel.from_bytes(data),
    )


_active = ActiveModel(MLModel.Type.ANOMALY_DETECTION, load_scorer)


def active_anomaly_scorer() -> Scorer | None:
    """The deployed anomaly model's scorer (reloaded within a second of an activation
    anywhere: apps.ml.active), or None while no anomaly model is deployed."""
    return _active.get()


def forget_loaded_scorer() -> None:
    """Drop the process's loaded models, the anomaly scorer and any other (tests)."""
    forget_loaded_models()
