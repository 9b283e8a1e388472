"""POST /api/v1/models/train and /models/recommend (seed 003): training and choosing a
registry model with the training app's jobs and data."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.constellations.access import constellation_for
from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.fields import JSONBooleanField, RefuseUnknownFields
from apps.ml.api.serializers import MLModelSerializer
from apps.ml.models import MLModel
from apps.training.config import TrainingConfigSerializer, gpu_available
from apps.training.models import SyntheticDataset
from apps.training.recommend import recommend
from apps.training.services import model_train


class TrainRequestSerializer(RefuseUnknownFields, serializers.Serializer):
    model_id = serializers.UUIDField()
    dataset_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, default=list, max_length=100
    )
    training_config = serializers.DictField(required=False, default=dict)
    config_name = serializers.SlugField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    auto_activate = JSONBooleanField(required=False, default=False)


class TrainRequestSchema(TrainRequestSerializer):
    training_config = TrainingConfigSerializer(
        required=False, partial=True, help_text="overrides of the model's config"
    )


class TrainResponseSerializer(MLModelSerializer):
    job_id = serializers.UUIDField(read_only=True)

    class Meta(MLModelSerializer.Meta):
        fields = [*MLModelSerializer.Meta.fields, "job_id"]


class ModelTrainView(APIView):
    """202 with the model (now `training`) and the id of the ordinary training job linked
    to it; when the job ends the model is `trained` (metrics, bundle) or `failed` (reason).
    No `dataset_ids`: the job first generates a synthetic dataset of the model's kind."""

    resource = "models"
    write_permission = "models:manage"

    @extend_schema(
        tags=["models"], request=TrainRequestSchema, responses={202: TrainResponseSerializer}
    )
    def post(self, request):
        body = TrainRequestSerializer(data=request.data)
        if not body.is_valid():
            raise ValidationFailed.for_errors(body.errors)
        data = body.validated_data
        model = MLModel.objects.filter(pk=data["model_id"]).first()
        if model is None:
            raise ValidationFailed.for_field("model_id", "unknown model", str(data["model_id"]))
        job = model_train(
            user=request.user,
            model=model,
            dataset_ids=data["dataset_ids"],
            overrides=data["training_config"],
            config_name=data["config_name"],
            auto_activate=data["auto_activate"],
        )
        model.refresh_from_db()
        return Response(
            {**MLModelSerializer(model).data, "job_id": str(job.pk)},
            status=status.HTTP_202_ACCEPTED,
        )


class RecommendRequestSerializer(RefuseUnknownFields, serializers.Serializer):
    model_type = serializers.ChoiceField(MLModel.Type.choices, required=False)
    dataset_id = serializers.UUIDField(required=False)
    constellation_id = serializers.UUIDField(required=False)


class RecommendResponseSerializer(serializers.Serializer):
    model_type = serializers.CharField()
    architecture = serializers.CharField()
    recommended = serializers.CharField()
    score = serializers.IntegerField(min_value=0, max_value=100)
    reasoning = serializers.CharField()
    rules = serializers.ListField(child=serializers.CharField())
    all_scores = serializers.DictField(child=serializers.IntegerField())
    data_analysis = serializers.DictField()


class ModelRecommendView(APIView):
    """The architecture the data calls for, by the rules in apps/training/recommend.py."""

    resource = "models"
    write_permission = "models:read"  # computes, writes nothing

    @extend_schema(
        tags=["models"],
        request=RecommendRequestSerializer,
        responses={200: RecommendResponseSerializer},
    )
    def post(self, request):
        body = RecommendRequestSerializer(data=request.data)
        if not body.is_valid():
            raise ValidationFailed.for_errors(body.errors)
        data = body.validated_data
        dataset = constellation = None
        if data.get("dataset_id"):
            dataset = SyntheticDataset.objects.filter(pk=data["dataset_id"]).first()
            if dataset is None:
                raise ValidationFailed.for_field(
                    "dataset_id", "unknown dataset", str(data["dataset_id"])
                )
            if dataset.status != SyntheticDataset.Status.READY:
                raise ValidationFailed.for_field(
                    "dataset_id", f"the dataset is {dataset.status}", str(dataset.pk)
                )
            kind = {"signals": "signal_classification", "recordings": "signal_classification"}.get(
                dataset.dataset_type, "localization"
            )
            if data.get("model_type") and data["model_type"] != kind:
                raise ValidationFailed.for_field(
                    "dataset_id",
                    f"a {dataset.dataset_type} dataset trains {kind} models",
                    str(dataset.pk),
                )
        if data.get("constellation_id"):
            try:
                constellation = constellation_for(request.user, data["constellation_id"], "view")
            except NotFound:  # a body field names it: a 400 naming the field, as dataset_id
                raise ValidationFailed.for_field(
                    "constellation_id", "unknown constellation", str(data["constellation_id"])
                ) from None
            if data.get("model_type", "localization") != "localization":
                raise ValidationFailed.for_field(
                    "constellation_id", "a constellation locates: model_type localization"
                )
        return Response(
            recommend(
                model_type=data.get("model_type"),
                dataset=dataset,
                constellation=constellation,
                gpu=gpu_available(),
            )
        )
