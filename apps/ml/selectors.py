"""Reads of the model registry."""

from apps.core.health import DEGRADED, HEALTHY
from apps.ml.models import MLModel

# The statuses of the model that serves its type (a degraded one still serves, flagged).
SERVING_STATUSES = (MLModel.Status.DEPLOYED, MLModel.Status.DEGRADED)


def active_model(*, model_type: str) -> MLModel | None:
    """The model serving a type (deployed or degraded), or None."""
    return MLModel.objects.filter(model_type=model_type, status__in=SERVING_STATUSES).first()


def anomaly_detector_health() -> str:
    """HEALTHY while an anomaly model is deployed, else DEGRADED (detections go unscored)."""
    deployed = MLModel.objects.filter(
        model_type=MLModel.Type.ANOMALY_DETECTION, status=MLModel.Status.DEPLOYED
    ).exists()
    return HEALTHY if deployed else DEGRADED


def model_list():
    """Every model, newest first within each type (MLModelFilterSet narrows them)."""
    return MLModel.objects.order_by("model_type", "-created_at", "id")
