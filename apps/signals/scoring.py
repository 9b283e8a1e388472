"""The seam between ingest and the anomaly model registry.

`active_scorer()` returns the deployed anomaly model's scorer, or None while
no anomaly model is deployed (detections then keep the score their sender
gave, or none).
"""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Score:
    anomaly_score: float
    is_anomaly: bool
    confidence: float


class Scorer(Protocol):
    version: str

    def score_rows(self, rows: list[dict]) -> list[Score | None]: ...


def active_scorer() -> Scorer | None:
    from django.apps import apps

    if not apps.is_installed("apps.ml"):
        return None
    from apps.ml.scoring import active_anomaly_scorer

    return active_anomaly_scorer()
