"""The live anomaly scorer: the deployed model, reloaded when another is activated.

Each process keeps the loaded model; at most once a second it reads the
active model id from the shared cache (Redis in production, one GET), and
loads the new bundle when the id changed. So activating a model reaches
every web and worker process within about a second, without a restart.
"""

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from django.core.cache import cache

from apps.ml import bundles, density
from apps.ml.models import MLModel
from apps.ml.selectors import SERVING_STATUSES
from apps.ml.services import ACTIVE_CACHE_KEY

CHECK_INTERVAL_S = 1.0


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


_lock = threading.Lock()
_state = {"scorer": None, "checked": 0.0}


def _active_model_id() -> str | None:
    key = ACTIVE_CACHE_KEY.format(model_type=MLModel.Type.ANOMALY_DETECTION)
    model_id = cache.get(key)
    if model_id is None:
        model_id = (
            MLModel.objects.filter(
                model_type=MLModel.Type.ANOMALY_DETECTION, status__in=SERVING_STATUSES
            )
            .values_list("pk", flat=True)
            .first()
        )
        model_id = str(model_id) if model_id else ""
        cache.set(key, model_id, 60)
    return model_id or None


def active_anomaly_scorer() -> Scorer | None:
    """The deployed anomaly model's scorer (reloaded within CHECK_INTERVAL_S of an
    activation anywhere), or None while no anomaly model is deployed."""
    now = time.monotonic()
    with _lock:
        scorer = _state["scorer"]
        if now - _state["checked"] < CHECK_INTERVAL_S:
            return scorer
        _state["checked"] = now
    model_id = _active_model_id()
    if model_id is None:
        scorer = None
    elif scorer is None or scorer.model_id != model_id:
        model = MLModel.objects.filter(pk=model_id).first()
        scorer = load_scorer(model) if model else None
    with _lock:
        _state["scorer"] = scorer
    return scorer


def forget_loaded_scorer() -> None:
    """Drop the process's loaded model (tests)."""
    with _lock:
        _state["scorer"], _state["checked"] = None, 0.0
