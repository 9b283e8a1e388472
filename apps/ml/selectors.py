"""Reads of the model registry."""

from apps.core.health import DEGRADED, HEALTHY
from apps.ml.models import MLModel


def active_model(*, model_type: str) -> MLModel | None:
    """The deployed model of a type, or None."""
    return MLModel.objects.filter(model_type=model_type, status=MLModel.Status.DEPLOYED).first()


def anomaly_detector_health() -> str:
    """HEALTHY while an anomaly model is deployed, else DEGRADED (detections go unscored)."""
    deployed = MLModel.objects.filter(
        model_type=MLModel.Type.ANOMALY_DETECTION, status=MLModel.Status.DEPLOYED
    ).exists()
    return HEALTHY if deployed else DEGRADED
