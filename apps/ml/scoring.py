"""The live anomaly scorer: the deployed model, reloaded when another is activated
(apps.ml.active: within about a second, in every process, without a restart).
"""

from dataclasses import dataclass
from typing import ClassVar, NamedTuple, Protocol

import numpy as np
from django.conf import settings

from apps.ml import bundles, context, density
from apps.ml.active import ActiveModel, forget_loaded_models
from apps.ml.models import MLModel


class Score(NamedTuple):
    """One detection's anomaly score in [0, 1], the model's verdict and its confidence.

    A named tuple, not a frozen dataclass: ingest makes one per row, and a frozen
    dataclass's __init__ (object.__setattr__ per field) cost about 1 µs of the ~30 µs
    a row takes."""

    anomaly_score: float
    is_anomaly: bool
    confidence: float
    # What was unusual (context models): an event type (apps.anomalies.classification)
    # and an operator's sentence ("+23 dB over this channel's 99th percentile").
    reason: str | None = None
    description: str | None = None


class Scorer(Protocol):
    """What ingest and analyze need of the active anomaly model."""

    version: str
    # Whether score_rows uses the contacts' recent levels (ingest finds them only then:
    # apps.ml.contacts).
    uses_contact_levels: bool

    def score_features(self, rows: list[dict]) -> list[Score | None]:
        """A Score per row of predict features (seed 004 predict), None where one is missing."""
        ...

    def score_rows(
        self, rows: list[dict], *, recent: context.Recent | None = None
    ) -> list[Score | None]:
        """A Score per detection row as ingested (features plus signal_strength_db);
        `recent`: each row's contact level (apps.ml.contacts), None when not known."""
        ...


@dataclass
class AnomalyScorer:
    model_id: str
    version: str
    model: density.GaussianMixtureModel
    uses_contact_levels: ClassVar[bool] = False

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

    def score_rows(
        self, rows: list[dict], *, recent: context.Recent | None = None
    ) -> list[Score | None]:
        """Detections as ingested: features from signal_features, power from the strength
        (a feature density knows no contacts: `recent` is not used)."""
        return self.score_features(
            [
                {"signal_power": row["signal_strength_db"], **(row.get("signal_features") or {})}
                for row in rows
            ]
        )


@dataclass
class ContextScorer:
    """The context model (apps.ml.context): where and when a detection is unusual at its
    station, plus the feature density. Rows are scored as one batch of arrays; only the
    anomalous ones get a description (a Python string each)."""

    model_id: str
    version: str
    model: context.ContextModel
    uses_contact_levels: ClassVar[bool] = True

    def score_features(self, rows: list[dict]) -> list[Score | None]:
        """Without a station and frequency only the feature density can judge."""
        if self.model.density is None:
            return [None] * len(rows)
        return AnomalyScorer(self.model_id, self.version, self.model.density).score_features(rows)

    def score_rows(
        self, rows: list[dict], *, recent: context.Recent | None = None
    ) -> list[Score | None]:
        """`recent` (arrays as long as `rows`): each row's contact level; without it no
        row is judged against its contact (context.contact_jump)."""
        if not rows:
            return []
        obs = context.Observations.from_rows(rows)
        if recent is not None:
            obs.recent_strength_db, obs.recent_count = recent
        verdict = self.model.score(obs)
        scores = np.round(verdict.score, 4)
        confidence = np.round(0.5 + 0.5 * np.minimum(1.0, np.abs(scores - 0.5) / 0.25), 4)
        flags = scores >= settings.HEIMDALL_ANOMALY_THRESHOLD
        # Python lists: indexing numpy arrays row by row costs ~0.1 µs per element.
        results: list[Score | None] = [
            Score(score, False, sure)
            for score, sure in zip(scores.tolist(), confidence.tolist(), strict=True)
        ]
        for i in np.flatnonzero(flags).tolist():  # the few anomalous rows: say why
            results[i] = Score(
                anomaly_score=results[i].anomaly_score,
                is_anomaly=True,
                confidence=results[i].confidence,
                reason=context.REASONS[int(verdict.reason[i])],
                description=self.model.describe(obs, verdict, i),
            )
        return results


def load_scorer(model: MLModel) -> AnomalyScorer | ContextScorer:
    data = bundles.read_verified(model.artifact_path, model.artifact_sha256)
    if context.is_context_model(data):
        return ContextScorer(
            model_id=str(model.pk),
            version=model.version,
            model=context.ContextModel.from_bytes(data),
        )
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
