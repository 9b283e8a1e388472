"""/api/v1/models: the registry (seeds 003, 004), bundles (seed 001), worker callbacks.

Reading is open to every role (and to `trainer` service accounts); creating,
changing, deleting and training need `models:manage` (operators and admins)
and, for an existing model, being its creator or an admin; activation is for
admins; the worker callbacks for `trainer` accounts and admins.
"""

import time

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from apps.core.exceptions import ValidationFailed
from apps.core.lookups import choice_param, get_by_uuid_or_404
from apps.core.schema import filterset_parameters
from apps.core.timeutil import isoformat_z, utc_now
from apps.ml import bundles, density, services, training_configs
from apps.ml.api.serializers import (
    CallbackResponseSerializer,
    InspectSerializer,
    MLModelSerializer,
    ModelCreateSerializer,
    ModelUpdateSerializer,
    PredictRequestSerializer,
    PredictResponseSerializer,
    TrainingCompleteSerializer,
    TrainingFailSerializer,
)
from apps.ml.filters import MLModelFilterSet
from apps.ml.inspection import inspect_model
from apps.ml.models import MLModel
from apps.ml.scoring import load_scorer
from apps.ml.selectors import active_model, model_list


class ModelListSerializer(serializers.Serializer):
    """Every model matching the filters (no pages: a registry holds tens of models)."""

    data = MLModelSerializer(many=True)


def _model(model_id: str) -> MLModel:
    return get_by_uuid_or_404(MLModel.objects.all(), model_id)


class ModelListView(APIView):
    resource = "models"
    write_permission = "models:manage"

    @extend_schema(
        tags=["models"],
        parameters=filterset_parameters(MLModelFilterSet),
        responses={200: ModelListSerializer},
    )
    def get(self, request):
        """Seed 004's shape: `{"data": [...]}`, no pages. MLModelFilterSet →
        selectors.model_list; an unknown `model_type` or `status` is a 400 naming it."""
        queryset = MLModelFilterSet(
            request.query_params, queryset=model_list()
        ).validated_queryset()
        return Response({"data": MLModelSerializer(queryset, many=True).data})

    @extend_schema(
        tags=["models"], request=ModelCreateSerializer, responses={201: MLModelSerializer}
    )
    def post(self, request):
        """Seed 003: a registry record in `draft`; train it with POST /models/train."""
        body = ModelCreateSerializer(data=request.data)
        errors = {} if body.is_valid() else dict(body.errors)
        config = {}
        data = body.validated_data if not errors else {}
        model_type = request.data.get("model_type") if isinstance(request.data, dict) else None
        raw = request.data.get("training_config", {}) if isinstance(request.data, dict) else {}
        if model_type in MLModel.Type.values and "training_config" not in errors:
            try:
                config = training_configs.validate(model_type, raw)
            except ValidationFailed as exc:
                fields = exc.details.get("fields", {})
                errors["training_config"] = {
                    k.removeprefix("training_config."): v for k, v in fields.items()
                } or [exc.message]
        if not errors and config.get("model_architecture") not in (None, data["architecture"]):
            errors["training_config"] = {"model_architecture": ["differs from architecture"]}
        if errors:
            raise ValidationFailed.for_errors(errors)
        model = services.model_create(
            user=request.user,
            name=data["name"],
            model_type=data["model_type"],
            architecture=data["architecture"],
            description=data["description"],
            training_config=config,
            metadata=data["metadata"],
            version=data.get("version"),
        )
        return Response(MLModelSerializer(model).data, status=http.HTTP_201_CREATED)


class ModelDetailView(APIView):
    resource = "models"
    write_permission = "models:manage"

    @extend_schema(tags=["models"], responses={200: MLModelSerializer})
    def get(self, request, model_id):
        return Response(MLModelSerializer(_model(model_id)).data)

    @extend_schema(
        tags=["models"], request=ModelUpdateSerializer, responses={200: MLModelSerializer}
    )
    def put(self, request, model_id):
        """Any subset of seed 003's fields; a status change follows apps.ml.states (409).
        PUT replaces each JSON object sent; PATCH merges it (RFC 7396, docs/api.md)."""
        model = _model(model_id)
        body = ModelUpdateSerializer(data=request.data)
        if not body.is_valid():
            raise ValidationFailed.for_errors(body.errors)
        model = services.model_update(
            user=request.user,
            model=model,
            changes=dict(body.validated_data),
            merge=request.method == "PATCH",
        )
        return Response(MLModelSerializer(model).data)

    patch = put

    @extend_schema(tags=["models"], responses={204: None})
    def delete(self, request, model_id):
        services.model_delete(user=request.user, model=_model(model_id))
        return Response(status=http.HTTP_204_NO_CONTENT)


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
    """Deploy a model for its task (admins); the live pipeline follows within a second. A
    status that does not allow it, or an invalid bundle, is a 409."""

    resource = "models"

    @extend_schema(tags=["models"], request=None, responses={200: MLModelSerializer})
    def post(self, request, model_id):
        return Response(MLModelSerializer(services.model_activate(model=_model(model_id))).data)


class ModelInspectView(APIView):
    """Seed 001's inspect: the bundle's saved validation (422 if the bundle is invalid)."""

    resource = "models"
    extra_error_statuses = (422,)  # a bundle that fails its check

    @extend_schema(tags=["models"], responses={200: InspectSerializer})
    def get(self, request, model_id):
        return Response(inspect_model(_model(model_id)))


class CurrentInspectView(APIView):
    """The model serving `model_type` now, inspected, with `loaded: true`; or
    `{"loaded": false, "reason": "no_model_loaded"}`."""

    resource = "models"
    extra_error_statuses = (422,)  # a bundle that fails its check

    @extend_schema(
        tags=["models"],
        parameters=[OpenApiParameter("model_type", str, enum=MLModel.Type.values, required=True)],
        responses={200: InspectSerializer},
    )
    def get(self, request):
        model_type = choice_param(request.query_params, "model_type", MLModel.Type.values)
        if model_type is None:
            raise ValidationFailed.for_field("model_type", "is required")
        model = active_model(model_type=model_type)
        if model is None:
            return Response({"loaded": False, "reason": "no_model_loaded"})
        return Response({"loaded": True, **inspect_model(model)})


class _FormatIsOurs:
    """DRF settings with the `?format=` renderer override off: here it names the file."""

    URL_FORMAT_OVERRIDE = None

    def __getattr__(self, name):
        return getattr(api_settings, name)


class _DownloadNegotiation(DefaultContentNegotiation):
    settings = _FormatIsOurs()


class ModelDownloadView(APIView):
    """`?format=bundle` (default): a zip of every bundle file; `?format=onnx`: the ONNX
    export. An invalid bundle is a 422 (nothing tampered is served)."""

    resource = "models"
    extra_error_statuses = (422,)  # a bundle that fails its check
    content_negotiation_class = _DownloadNegotiation

    @extend_schema(
        tags=["models"],
        parameters=[OpenApiParameter("format", str, enum=["bundle", "onnx"])],
        responses={(200, "application/octet-stream"): bytes},
    )
    def get(self, request, model_id):
        wanted = choice_param(request.query_params, "format", ["bundle", "onnx"]) or "bundle"
        model = _model(model_id)
        bundle, reason = bundles.model_bundle(model)
        if reason is not None:
            raise bundles.InvalidBundle(
                f"The model's bundle is not valid: {reason}", {"invalid_reason": reason}
            )
        base = f"{model.name}-{model.version}".replace('"', "")
        if wanted == "onnx":
            item = bundle.file("model.onnx")
            if item is None:
                raise ValidationFailed.for_field(
                    "format",
                    f"this model has no ONNX export (its model file is "
                    f"{bundle.artifact.name}); use format=bundle",
                    wanted,
                )
            data = bundles.read_verified(item.path, item.sha256)
            response = HttpResponse(data, content_type="application/octet-stream")
            response["Content-Disposition"] = f'attachment; filename="{base}.onnx"'
        else:
            response = HttpResponse(bundles.bundle_zip(bundle), content_type="application/zip")
            response["Content-Disposition"] = f'attachment; filename="{base}.zip"'
        return response


class TrainingCompleteView(APIView):
    """Worker callback (seed 003): the external trainer's bundle, checked, makes the model
    `trained`. `trainer` accounts and admins; the same report again is a no-op."""

    resource = "models"
    write_permission = "models:callback"

    @extend_schema(
        tags=["models"],
        request=TrainingCompleteSerializer,
        responses={200: CallbackResponseSerializer},
    )
    def post(self, request, model_id):
        model = _model(model_id)
        body = TrainingCompleteSerializer(data=request.data)
        if not body.is_valid():
            raise ValidationFailed.for_errors(body.errors)
        data = body.validated_data
        path = bundles.safe_storage_path(data["model_artifact_path"], "model_artifact_path")
        services.model_training_reported(
            model=model,
            artifact_path=path,
            performance_metrics=data["performance_metrics"],
            training_metrics=data["training_metrics"],
        )
        return Response({"status": "training completed"})


class TrainingFailView(APIView):
    """Worker callback (seed 003): the model becomes `failed` with the reason."""

    resource = "models"
    write_permission = "models:callback"

    @extend_schema(
        tags=["models"], request=TrainingFailSerializer, responses={200: CallbackResponseSerializer}
    )
    def post(self, request, model_id):
        model = _model(model_id)
        body = TrainingFailSerializer(data=request.data)
        if not body.is_valid():
            raise ValidationFailed.for_errors(body.errors)
        services.model_training_failed(
            model=model, reason=body.validated_data["reason"], callback=True
        )
        return Response({"status": "training failed"})
