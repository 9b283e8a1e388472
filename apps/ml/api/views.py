import time

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ValidationFailed
from apps.core.lookups import choice_param, get_by_uuid_or_404
from apps.core.timeutil import isoformat_z, utc_now
from apps.ml import density
from apps.ml.api.serializers import (
    MLModelSerializer,
    PredictRequestSerializer,
    PredictResponseSerializer,
)
from apps.ml.models import MLModel
from apps.ml.scoring import load_scorer
from apps.ml.services import model_activate


class ModelListSerializer(serializers.Serializer):
    """Every model matching the filters (no pages: a registry holds tens of models)."""

    data = MLModelSerializer(many=True)


def _model(model_id: str) -> MLModel:
    return get_by_uuid_or_404(MLModel.objects.all(), model_id)


class ModelListView(APIView):
    resource = "models"

    @extend_schema(
        tags=["models"],
        parameters=[
            OpenApiParameter("model_type", str, enum=MLModel.Type.values),
            OpenApiParameter("status", str, enum=MLModel.Status.values),
        ],
        responses={200: ModelListSerializer},
    )
    def get(self, request):
        queryset = MLModel.objects.order_by("model_type", "-created_at")
        for name, choices in (("model_type", MLModel.Type), ("status", MLModel.Status)):
            value = choice_param(request.query_params, name, choices.values)
            if value:
                queryset = queryset.filter(**{name: value})
        return Response({"data": MLModelSerializer(queryset, many=True).data})


class ModelDetailView(APIView):
    resource = "models"

    @extend_schema(tags=["models"], responses={200: MLModelSerializer})
    def get(self, request, model_id):
        return Response(MLModelSerializer(_model(model_id)).data)


class ModelPredictView(APIView):
    """Score features with a given model (any role: predicting writes nothing)."""

    resource = "models"
    write_permission = "models:read"

    @extend_schema(
        tags=["models"],
        request=PredictRequestSerializer,
        responses={200: PredictResponseSerializer},
    )
    def post(self, request, model_id):
        started = time.perf_counter()
        model = _model(model_id)
        if model.model_type != MLModel.Type.ANOMALY_DETECTION:
            raise ValidationFailed.for_field(
                "model_id", f"a {model.model_type} model does not score features", model_id
            )
        body = PredictRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        features = body.validated_data["features"]
        for name in density.FEATURES:
            value = features.get(name)
            if value is None:
                raise ValidationFailed.for_field(f"features.{name}", "is required")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValidationFailed.for_field(f"features.{name}", "must be a number", value)
        result = load_scorer(model).score_features([features])[0]
        if result is None:
            raise ValidationFailed.for_field("features", "every feature must be a finite number")
        return Response(
            {
                "model_id": str(model.pk),
                "prediction": {
                    "anomaly_score": result.anomaly_score,
                    "is_anomaly": result.is_anomaly,
                    "confidence": result.confidence,
                },
                "processing_time_ms": round((time.perf_counter() - started) * 1000, 2),
                "timestamp": isoformat_z(utc_now()),
            }
        )


class ModelActivateView(APIView):
    """Deploy a model for its task (admins); the live pipeline follows within a second."""

    resource = "models"

    @extend_schema(tags=["models"], request=None, responses={200: MLModelSerializer})
    def post(self, request, model_id):
        model = _model(model_id)
        if model.status in (MLModel.Status.FAILED, MLModel.Status.TRAINING, MLModel.Status.DRAFT):
            raise ValidationFailed.for_field(
                "model_id", f"a {model.status} model cannot be deployed", model_id
            )
        return Response(MLModelSerializer(model_activate(model=model)).data)
