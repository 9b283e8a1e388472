"""The model registry list's filters (the same FilterSet serves the API and the console)."""

from apps.core.filters import OneOfFilter, StrictFilterSet
from apps.ml.models import MLModel


class MLModelFilterSet(StrictFilterSet):
    """`model_type` and `status`, each one of the model's choices (400 naming it otherwise)."""

    model_type = OneOfFilter(choices=MLModel.Type.values)
    status = OneOfFilter(choices=MLModel.Status.values)

    class Meta:
        model = MLModel
        fields: list[str] = []
